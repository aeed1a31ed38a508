"""`trialfinder schedule` as a real subprocess against the fake API: runs on an interval trigger, skips a trigger
while a run is going, keeps next-run times across restarts, and on SIGTERM mid-sync rolls back and exits 0."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import MetaData, Table, select

from tests.conftest import Project
from tests.ingest.test_sync import snapshot
from tests.mailworld import backdate
from tests.scenario import NEW_STUDY, SENTENCES, change_world
from tests.smtpserver import SmtpServer, text_part
from trialfinder.models import PipelineRun, SyncRun

REPO = Path(__file__).resolve().parent.parent.parent


def wait_for(condition: Callable[[], object], seconds: float = 30.0, what: str = "condition",
             logs: Sequence[Path] = ()) -> None:  # fmt: skip
    """Poll `condition` until it holds. It fails when it stays false `seconds` in a row while none of the scheduler
    `logs` grows, or after 10 times `seconds` in all: a scheduler still writing its log is working, and on a
    loaded machine a whole run can take longer than any fixed wait (a 30 s deadline failed under a load of 15)."""
    started = last_change = time.monotonic()
    sizes: tuple[int, ...] | None = None
    while not condition():
        now = time.monotonic()
        current = tuple(path.stat().st_size if path.exists() else -1 for path in logs)
        if current != sizes:
            sizes, last_change = current, now
        if now - last_change > seconds or now - started > 10 * seconds:
            tails = "".join(f"\n--- {path.name} ends:\n" + "\n".join(path.read_text().splitlines()[-15:])
                            for path in logs if path.exists())  # fmt: skip
            raise AssertionError(f"timed out waiting for {what}{tails}")
        time.sleep(0.1)


def stopped(process: subprocess.Popen[bytes], log: Path) -> int:
    """SIGTERM the scheduler and wait for it to exit (it finishes the running step first); its exit code."""
    process.send_signal(signal.SIGTERM)
    wait_for(lambda: process.poll() is not None, what="the scheduler to exit", logs=[log])
    return process.wait()


@contextmanager
def scheduler(project: Project) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    log = project.path / f"schedule-{time.monotonic_ns()}.log"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "trialfinder", "--config", str(project.config_path), "schedule"],
            cwd=project.path, stdout=sink, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
        try:
            yield process, log
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(10)


def schedule_every(project: Project, seconds: int) -> None:
    text = project.config_path.read_text()
    project.config_path.write_text(text + f'\n[schedule]\nrun_every_s = {seconds}\nfull_cron = ""\n')


def pipeline_statuses(project: Project) -> list[str]:
    with project.engine().connect() as conn:
        return list(conn.execute(select(PipelineRun.c.status)).scalars())


def test_interval_trigger_runs_the_pipeline_and_sigterm_exits_0(project: Project) -> None:
    schedule_every(project, 1)
    with scheduler(project) as (process, log):
        wait_for(lambda: "succeeded" in pipeline_statuses(project), what="a scheduled run", logs=[log])
        assert stopped(process, log) == 0, log.read_text()
    with project.engine().connect() as conn:
        run = conn.execute(select(PipelineRun)).first()
    assert run is not None and run.trigger == "schedule"
    assert "Next scheduled pipeline:" in project.cli("status").stdout


def test_scheduled_run_produces_the_site_exports_feeds_and_a_digest_email(mail: Project, smtp: SmtpServer) -> None:
    """The README's main job end to end under the scheduler: sync, render, exports, feeds and a due digest."""
    mail.cli("sync")
    mail.cli("subscribers", "add", "ada@example.org")
    change_world(mail)
    backdate(mail.engine(), 8)  # a weekly subscriber whose period is over
    schedule_every(mail, 1)
    with scheduler(mail) as (process, log):
        wait_for(lambda: "succeeded" in pipeline_statuses(mail), what="a scheduled run", logs=[log])
        assert stopped(process, log) == 0, log.read_text()
    with mail.engine().connect() as conn:
        run = conn.execute(select(PipelineRun).order_by(PipelineRun.c.id)).first()
    assert run is not None
    assert [(s["name"], s["status"]) for s in run.steps] == [
        ("sync", "ok"), ("render", "ok"), ("exports", "ok"), ("feeds", "ok"), ("digests", "ok")], log.read_text()
    site = mail.path / "site"
    index = (site / "index.html").read_text(encoding="utf-8")
    assert NEW_STUDY in index and (site / "study" / f"{NEW_STUDY}.html").is_file()
    assert 'href="exports/studies.csv"' in index
    assert 'href="https://whim.example.org/trials/subscribe"' in index  # e-mail is set up: the footer offers it
    with (site / "exports" / "studies.csv").open(encoding="utf-8", newline="") as handle:
        assert NEW_STUDY in {row["nct_id"] for row in csv.DictReader(handle)}
    assert (site / "exports" / "locations.csv").is_file() and (site / "exports" / "events.csv").is_file()
    assert NEW_STUDY in (site / "feed.xml").read_text(encoding="utf-8")
    (message,) = smtp.handler.to("ada@example.org")
    text = text_part(message, "plain")
    for nct_id, sentence in SENTENCES.items():
        if nct_id != "NCT03547830":  # the scheduled run's sync is incremental: only a full one finds removals
            assert nct_id in text and sentence in text


def test_sigterm_mid_sync_rolls_back_skips_overlapping_trigger_and_exits_0(project: Project) -> None:
    project.cli("sync", "--full")
    before = snapshot(project.engine())
    for nct_id in project.api.nct_ids[:3]:
        project.api.update(nct_id, lambda r: r["protocolSection"]["statusModule"].update(overallStatus="SUSPENDED"))
    # One study a page, each answer 0.4 s late (within the 1 s timeout): the sync takes about 4 s.
    project.config_path.write_text(project.config_path.read_text().replace("page_size = 3", "page_size = 1"))
    project.api.fail_next("delay", times=1000, delay_s=0.4, path="/studies")
    schedule_every(project, 1)
    with scheduler(project) as (process, log):
        wait_for(lambda: "maximum number of running instances reached" in log.read_text(), what="a skipped trigger")
        with project.engine().connect() as conn:
            statuses = list(conn.execute(select(SyncRun.c.status)).scalars())
        assert statuses[-1] == "running"
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0, log.read_text()
    assert snapshot(project.engine()) == before
    with project.engine().connect() as conn:
        last_sync = conn.execute(select(SyncRun).order_by(SyncRun.c.id.desc())).first()
    assert last_sync is not None and last_sync.status == "failed" and last_sync.error == "stopped on request"
    assert pipeline_statuses(project) == ["cancelled"]
    assert "Error" not in log.read_text() and "Traceback" not in log.read_text()
    assert project.cli("sync").code == 0  # the ingest lock was released


def test_next_run_time_survives_a_restart(project: Project) -> None:
    schedule_every(project, 3600)

    def start_and_stop(expect: str) -> float:
        with scheduler(project) as (process, log):
            wait_for(lambda: expect in log.read_text(), what=expect)
            process.send_signal(signal.SIGTERM)
            assert process.wait(30) == 0
        with project.engine().connect() as conn:
            jobs = Table("apscheduler_jobs", MetaData(), autoload_with=conn)
            return float(conn.execute(select(jobs.c.next_run_time).where(jobs.c.id == "pipeline")).scalar_one())

    first = start_and_stop("job pipeline scheduled")
    time.sleep(1.1)  # a re-added interval job would get a later next-run time
    assert start_and_stop("job pipeline kept") == first


def test_manual_sync_is_refused_while_the_scheduler_syncs(project: Project) -> None:
    project.api.fail_next("delay", times=1000, delay_s=0.4, path="/studies")
    schedule_every(project, 1)
    with scheduler(project) as (process, log):
        def running() -> bool:
            with project.engine().connect() as conn:
                return "running" in conn.execute(select(SyncRun.c.status)).scalars().all()

        wait_for(running, what="the scheduled sync to start")
        refused = project.cli("sync", expect=3)
        assert "another sync is running (started at" in refused.stderr
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0, log.read_text()


def test_bad_cron_is_a_one_line_error(project: Project) -> None:
    project.config_path.write_text(project.config_path.read_text() + '\n[schedule]\nrun_cron = "30 25 * * *"\n')
    result = project.cli("schedule", expect=2)
    assert result.stderr.count("\n") == 1 and "'schedule.run_cron' is not a valid cron expression" in result.stderr


def test_a_job_stored_under_the_former_module_path_is_scheduled_again(project: Project) -> None:
    """Before the package had stage folders the job was stored as trialfinder.scheduler:scheduled_run; a
    database from then gets its job back under the new path instead of a job that cannot load."""
    import pickle

    schedule_every(project, 3600)
    for expect in ("job pipeline scheduled", "job pipeline scheduled"):
        with scheduler(project) as (process, log):
            wait_for(lambda expect=expect: expect in log.read_text(), what=expect)  # type: ignore[misc]
            process.send_signal(signal.SIGTERM)
            assert process.wait(30) == 0
        with project.engine().begin() as conn:
            jobs = Table("apscheduler_jobs", MetaData(), autoload_with=conn)
            stored = conn.execute(select(jobs.c.job_state).where(jobs.c.id == "pipeline")).scalar_one()
            state = pickle.loads(stored)  # noqa: S301 (our own test database)
            assert state["func"] == "trialfinder.run.scheduler:scheduled_run"
            state["func"] = "trialfinder.scheduler:scheduled_run"  # as a database of the flat layout holds it
            conn.execute(jobs.update().where(jobs.c.id == "pipeline").values(job_state=pickle.dumps(state)))


def pipeline_count(project: Project) -> int:
    return len(pipeline_statuses(project))


def test_one_active_scheduler_and_the_standby_runs_the_next_job_after_a_kill_9(project: Project) -> None:
    schedule_every(project, 1)
    project.config_path.write_text(project.config_path.read_text() + "leader_lease_s = 2\n")
    with scheduler(project) as (first, first_log), scheduler(project) as (second, second_log):
        wait_for(lambda: "succeeded" in pipeline_statuses(project), what="a scheduled run",
                 logs=[first_log, second_log])
        wait_for(lambda: "standby: the scheduler of" in first_log.read_text() + second_log.read_text(),
                 what="a standby", logs=[first_log, second_log])  # fmt: skip
        leader, _, standby, standby_log = (
            (first, first_log, second, second_log) if "active scheduler" in first_log.read_text()
            else (second, second_log, first, first_log))  # fmt: skip
        assert "active scheduler" not in standby_log.read_text()
        assert f":{leader.pid} since" in project.cli("status").stdout  # "Scheduler: active on host:pid since ..."
        leader.kill()  # SIGKILL: no clean-up at all
        leader.wait(10)
        runs_at_kill = pipeline_count(project)
        wait_for(lambda: "active scheduler" in standby_log.read_text(), what="the standby taking over",
                 logs=[standby_log])
        wait_for(lambda: pipeline_count(project) > runs_at_kill + 1, what="a run by the new leader", logs=[standby_log])
        assert f":{standby.pid} since" in project.cli("status").stdout
        standby.send_signal(signal.SIGTERM)
        assert standby.wait(30) == 0, standby_log.read_text()
    assert "ERROR" not in standby_log.read_text(), standby_log.read_text()
    assert "Scheduler: none running" in project.cli("status").stdout
