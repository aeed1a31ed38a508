"""`trialfinder run`: every step runs, each outcome is recorded and shown by `status`; a failed sync does not stop
the other steps and makes the exit code non-zero."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from tests.conftest import Project
from trialfinder.models import PipelineRun, SyncRun
from trialfinder.run.job import run_pipeline, sync_step
from trialfinder.run.pipeline import StepContext, full_sync_due


def test_run_syncs_and_records_each_step(project: Project) -> None:
    result = project.cli("run")
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("run succeeded in ")
    assert "sync ok" in last
    with project.engine().connect() as conn:
        run = conn.execute(select(PipelineRun)).one()
        sync_run = conn.execute(select(SyncRun)).one()
    assert run.status == "succeeded" and run.trigger == "manual" and run.finished_at is not None
    assert [s["name"] for s in run.steps] == ["sync", "render", "exports", "feeds", "digests"]
    assert run.steps[-1]["status"] == "skipped" and "e-mail is not set up" in run.steps[-1]["detail"]
    site = project.path / "site"
    for written in ("feed.xml", "index.html", "changes.html", "exports/studies.csv", "exports/events.csv"):
        assert (site / written).is_file(), written
    assert 'href="exports/studies.csv"' in (site / "index.html").read_text(encoding="utf-8")
    assert run.steps[0]["status"] == "ok" and run.steps[0]["detail"].startswith("sync full:")
    assert sync_run.mode == "full"  # no full sync ever: full is due
    status = project.cli("status").stdout
    assert f"Last pipeline run #{run.id} (manual)" in status and "  sync: ok in " in status


def test_full_sync_is_due_by_age(project: Project) -> None:
    engine = project.engine()
    project.cli("sync")
    assert not full_sync_due(project.config, engine)
    runs = SyncRun
    with engine.begin() as conn:
        conn.execute(update(runs).values(finished_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=8)))
    assert full_sync_due(project.config, engine)
    project.cli("run", "--incremental")
    with engine.connect() as conn:
        assert conn.execute(select(runs.c.mode).order_by(runs.c.id.desc())).first() == ("incremental",)


def test_failed_sync_does_not_stop_later_steps_and_exits_1(project: Project) -> None:
    project.api.fail_next("503", times=100, path="/")
    seen: list[str] = []

    def later(ctx: StepContext) -> str:
        seen.append("later ran")
        return "done"

    result = run_pipeline(project.config, project.engine(), steps=[("sync", sync_step), ("later", later)])
    assert [s.status for s in result.steps] == ["failed", "ok"] and seen == ["later ran"]
    assert result.status == "failed"
    assert "sync failed, nothing was changed" in result.steps[0].detail
    cli = project.cli("run", expect=1)
    assert "sync failed" in cli.stdout


def test_a_crashing_step_is_recorded_and_the_rest_still_run(project: Project) -> None:
    def broken(ctx: StepContext) -> str:
        raise RuntimeError("template missing")

    result = run_pipeline(project.config, project.engine(), steps=[("broken", broken), ("sync", sync_step)])
    assert [(s.name, s.status) for s in result.steps] == [("broken", "failed"), ("sync", "ok")]
    assert result.steps[0].detail == "RuntimeError: template missing"
