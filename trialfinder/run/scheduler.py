"""`trialfinder schedule`: an APScheduler 3.x BlockingScheduler that runs the pipeline on the [schedule] triggers.

Jobs live in the project database (SQLAlchemyJobStore, table `apscheduler_jobs`), so next-run times survive
restarts: a job whose trigger and arguments did not change is kept as stored, never re-added. coalesce=True and
max_instances=1: missed runs collapse into one, and a trigger that fires while a run is going is skipped.
SIGTERM/SIGINT: the running step ends cleanly (a sync in progress rolls back), then the process exits 0; a run that
comes due while stopping is not started (and logs no error).
Only one scheduler is active per database (run/leader.py): a second one waits as a standby and takes over when
the first dies.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from dataclasses import dataclass
from types import FrameType
from typing import Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_SCHEDULER_STARTED, JobSubmissionEvent, SchedulerEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.job import Job
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from trialfinder.config import Config, load_config
from trialfinder.db import dispose, make_engine, open_database
from trialfinder.run.job import run_pipeline
from trialfinder.run.leader import become_leader

log = logging.getLogger(__name__)

JOB_FUNCTION = "trialfinder.run.scheduler:scheduled_run"
JOBSTORE_TABLE = "apscheduler_jobs"
# The job store shares the database with the sync, whose run is one long write transaction: on SQLite its
# bookkeeping waits for that transaction instead of failing with "database is locked".
JOBSTORE_BUSY_TIMEOUT_MS = 30 * 60 * 1000

# Process-wide stop request, set by the signal handler and read by the running job (jobs are stored by reference
# with plain arguments, so they cannot carry an Event). Signal state, not configuration.
_STOP = threading.Event()


@dataclass(frozen=True)
class WantedJob:
    """A job the config asks for."""

    id: str
    trigger: BaseTrigger
    full: bool | None  # None: the pipeline decides by [schedule] full_after_days


def wanted_jobs(config: Config) -> list[WantedJob]:
    """The jobs [schedule] asks for: the regular run (cron, or every run_every_s seconds) and the full reconcile."""
    schedule = config.schedule
    regular: BaseTrigger
    if schedule.run_every_s > 0:
        regular = IntervalTrigger(seconds=schedule.run_every_s, timezone="UTC")
    else:
        regular = CronTrigger.from_crontab(schedule.run_cron, timezone="UTC")
    jobs = [WantedJob("pipeline", regular, None)]
    if schedule.full_cron:
        jobs.append(WantedJob("full-reconcile", CronTrigger.from_crontab(schedule.full_cron, timezone="UTC"), True))
    return jobs


def scheduled_run(config_path: str | None, full: bool | None) -> str:
    """The job: load the config afresh, run the pipeline once, return its summary line."""
    config = load_config(config_path)
    engine = open_database(config.database.url)
    try:
        result = run_pipeline(config, engine, full=full, trigger="schedule-full" if full else "schedule", stop=_STOP)
    finally:
        dispose(engine)  # after the checkpoint thread of its sync
    line = result.summary()
    (log.info if result.status == "succeeded" else log.warning)("%s", line)
    return line


class _StoppingExecutor(ThreadPoolExecutor):
    """The thread pool, except that a run coming due after a stop request is not started (APScheduler would log
    "cannot schedule new futures after shutdown" as an error)."""

    def _do_submit_job(self, job: Job, run_times: list[Any]) -> None:
        if _STOP.is_set():
            log.info("job %s came due while stopping: not started", job.id)
            return
        super()._do_submit_job(job, run_times)


def build_scheduler(config: Config, config_path: str | None) -> BlockingScheduler:
    """A scheduler with the persistent job store; the wanted jobs are reconciled with the stored ones on start."""
    scheduler = BlockingScheduler(
        jobstores={
            "default": SQLAlchemyJobStore(
                engine=make_engine(config.database.url, busy_timeout_ms=JOBSTORE_BUSY_TIMEOUT_MS),
                tablename=JOBSTORE_TABLE,
            )
        },
        executors={"default": _StoppingExecutor()},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": config.schedule.misfire_grace_s},
        timezone="UTC",
    )
    wanted = wanted_jobs(config)

    def reconcile(_event: SchedulerEvent) -> None:
        stored = {job.id: job for job in scheduler.get_jobs()}
        for job in wanted:
            args = (config_path, job.full)
            current = stored.pop(job.id, None)
            if (current is not None and current.func_ref == JOB_FUNCTION and str(current.trigger) == str(job.trigger)
                    and tuple(current.args) == args):
                log.info("job %s kept: next run %s", job.id, current.next_run_time)
                continue
            added = scheduler.add_job(JOB_FUNCTION, job.trigger, args=args, id=job.id, name=job.id,
                                      replace_existing=True)  # fmt: skip
            log.info("job %s scheduled (%s): next run %s", job.id, job.trigger, added.next_run_time)
        for leftover in stored:
            scheduler.remove_job(leftover)
            log.info("job %s removed: no longer in [schedule]", leftover)

    def skipped(event: JobSubmissionEvent) -> None:
        log.warning("job %s: a run was due while the previous one was still going; skipped", event.job_id)

    scheduler.add_listener(reconcile, EVENT_SCHEDULER_STARTED)
    scheduler.add_listener(skipped, EVENT_JOB_MAX_INSTANCES)
    return scheduler


class _StopWatcher:
    """Sets the stop request the moment SIGTERM/SIGINT arrives, even while the main thread waits inside SQLite.

    Python runs signal handlers only in the main thread between bytecodes; the scheduler's main thread can sit in
    SQLite's busy wait (its job-store write waits for the sync's transaction). signal.set_wakeup_fd makes the C-level
    handler write the signal number to a pipe at once; this thread reads it, so the running sync stops at its next
    page and rolls back, which frees the database, which lets the main thread reach the Python handler.
    """

    def __init__(self) -> None:
        self._read, write = os.pipe()
        os.set_blocking(write, False)
        self._write = write
        self._previous_fd = signal.set_wakeup_fd(write)
        self._thread = threading.Thread(target=self._watch, name="signal-watcher", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        wanted = {signal.SIGTERM.value, signal.SIGINT.value}
        while True:
            try:
                data = os.read(self._read, 64)
            except OSError:
                return
            if not data:
                return
            if wanted & set(data):
                _STOP.set()

    def close(self) -> None:
        signal.set_wakeup_fd(self._previous_fd)
        os.close(self._write)  # the reader sees end of file and ends
        self._thread.join(5)
        os.close(self._read)


def run_scheduler(config: Config, config_path: str | None) -> int:
    """Block running the schedule until SIGTERM/SIGINT; returns the exit code (0 after a clean stop)."""
    open_database(config.database.url).dispose()  # migrate before the job store touches the database
    scheduler = build_scheduler(config, config_path)
    _STOP.clear()

    stopper: list[threading.Thread] = []

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("%s received: finishing the running step, then exiting", signal.Signals(signum).name)
        _STOP.set()
        if not stopper and scheduler.running:
            # Not from inside the handler: it may have interrupted the scheduler's own job processing. The thread
            # takes the scheduler's locks, so it waits for that processing, then for the running job.
            stopper.append(threading.Thread(target=scheduler.shutdown, kwargs={"wait": True}, name="shutdown"))
            stopper[0].start()

    lost: list[bool] = []

    def leadership_lost() -> None:  # the lease thread: our lease was taken over, so another scheduler is active
        log.error("another scheduler took over the lead: stopping this one")
        lost.append(True)
        stop(signal.SIGTERM, None)

    previous: dict[int, Any] = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    watcher = _StopWatcher()
    engine = make_engine(config.database.url)
    lease = None
    try:
        lease = become_leader(engine, config.schedule.leader_lease_s, _STOP, leadership_lost)
        if lease is not None:
            log.info("scheduler starting (jobs stored in %s)", JOBSTORE_TABLE)
            scheduler.start()
            for thread in stopper:
                thread.join()
    finally:
        watcher.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if lease is not None and not lost:
            lease.release()
        engine.dispose()
    log.info("scheduler stopped")
    return 1 if lost else 0
