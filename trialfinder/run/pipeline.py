"""Running a pipeline's steps: each step timed, logged and recorded (the steps themselves are in `run.job`).

A failing step does not stop the next ones (a failed sync still leaves the last good data to render, and events
already recorded can still be sent); a stop request (SIGTERM) ends the running step cleanly and skips the rest.
Every run is a row in `pipeline_runs`, so `trialfinder status` can show each step's outcome.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sqlalchemy import Connection, Engine, insert, select, update

from trialfinder.config import Config
from trialfinder.db import begin_write
from trialfinder.ingest.sync import SyncCancelled
from trialfinder.models import PipelineRun, SyncRun, utcnow
from trialfinder.processes import holder, is_dead

log = logging.getLogger(__name__)
pipeline_runs = PipelineRun
DEAD_AFTER = dt.timedelta(days=1)  # a `running` row with no process recorded (made before 0005) is dead after this


class StepFailed(Exception):
    """A step could not do its work; the message is its one-line outcome."""


class StepSkipped(Exception):
    """A step has nothing it may do here (e.g. e-mail is not set up); the message says why. Not a failure."""


@dataclass
class StepContext:
    """What every step gets: config, engine, whether the sync is full, and the stop request."""

    config: Config
    engine: Engine
    full: bool
    stop: threading.Event = field(default_factory=threading.Event)

    @property
    def out_dir(self) -> Path:
        """[site] out_dir, where the site, its exports and feeds go."""
        return self.config.resolve_path(self.config.site.out_dir)


Step = Callable[[StepContext], str]  # returns a one-line detail; raises StepFailed (or anything) on failure


@dataclass(frozen=True)
class StepResult:
    """How one step ended: ok | failed | cancelled | skipped."""

    name: str
    status: str
    seconds: float
    detail: str


@dataclass(frozen=True)
class PipelineResult:
    """All steps of one run."""

    run_id: int
    steps: list[StepResult]
    seconds: float

    @property
    def status(self) -> str:
        """succeeded, failed (a step failed) or cancelled (stopped on request)."""
        if any(s.status == "cancelled" for s in self.steps):
            return "cancelled"
        return "failed" if any(s.status == "failed" for s in self.steps) else "succeeded"

    def summary(self) -> str:
        """`run succeeded in 12.3 s: sync ok, render ok, exports ok, feeds ok, digests ok`."""
        parts = ", ".join(f"{s.name} {s.status}" for s in self.steps)
        return f"run {self.status} in {self.seconds:.1f} s: {parts}"


def full_sync_due(config: Config, engine: Engine, now: dt.datetime | None = None) -> bool:
    """True when no full sync succeeded within [schedule] full_after_days."""
    runs = SyncRun
    with engine.connect() as conn:
        last = conn.execute(
            select(runs.c.finished_at)
            .where(runs.c.status == "succeeded", runs.c.mode == "full")
            .order_by(runs.c.id.desc())
            .limit(1)
        ).scalar()
    if last is None:
        return True
    return (now or utcnow()) - last >= dt.timedelta(days=config.schedule.full_after_days)


def run_steps(
    config: Config,
    engine: Engine,
    steps: Sequence[tuple[str, Step]],
    *,
    full: bool | None = None,
    trigger: str = "manual",
    stop: threading.Event | None = None,
) -> PipelineResult:
    """Run each of `steps` once, in order (`run.job` composes the main job's). `full=None` decides by
    [schedule] full_after_days."""
    started = time.monotonic()
    stop = stop or threading.Event()
    ctx = StepContext(config, engine, full_sync_due(config, engine) if full is None else full, stop)
    with begin_write(engine) as conn:  # it reads the runs, then writes: SQLite takes the write lock first
        _fail_dead_runs(conn)
        run_id = conn.execute(
            insert(pipeline_runs)
            .values(trigger=trigger, started_at=utcnow(), status="running", steps=[], holder=holder())
            .returning(pipeline_runs.c.id)
        ).scalar_one()
    results: list[StepResult] = []
    for name, step in steps:
        if stop.is_set():
            results.append(StepResult(name, "skipped", 0.0, "stopping on request"))
            continue
        results.append(_run_step(name, step, ctx))
        _record(engine, run_id, results, final=None)
    result = PipelineResult(int(run_id), results, time.monotonic() - started)
    _record(engine, run_id, results, final=result.status)
    return result


def _fail_dead_runs(conn: Connection) -> None:
    """Mark failed the pipeline runs left `running` by a process that died (killed, power cut), as sync runs are;
    a run without a recorded process counts as dead after DEAD_AFTER."""
    now = utcnow()
    rows = conn.execute(
        select(pipeline_runs.c.id, pipeline_runs.c.holder, pipeline_runs.c.started_at).where(
            pipeline_runs.c.status == "running")
    ).all()  # fmt: skip
    dead = [row.id for row in rows if is_dead(row.holder) or (row.holder is None and now - row.started_at > DEAD_AFTER)]
    if dead:
        conn.execute(
            update(pipeline_runs).where(pipeline_runs.c.id.in_(dead), pipeline_runs.c.status == "running")
            .values(status="failed", finished_at=now)
        )  # fmt: skip
        log.warning("pipeline runs %s ended without finishing (their process is gone); marked failed",
                    ", ".join(f"#{i}" for i in dead))  # fmt: skip


def _run_step(name: str, step: Step, ctx: StepContext) -> StepResult:
    began = time.monotonic()
    try:
        detail, status = step(ctx), "ok"
    except SyncCancelled as exc:
        detail, status = str(exc), "cancelled"
    except StepFailed as exc:
        detail, status = str(exc), "failed"
    except StepSkipped as exc:
        detail, status = str(exc), "skipped"
    except Exception as exc:  # a step's bug must not stop the others; it is logged with its traceback
        log.exception("step %s crashed", name)
        detail, status = f"{type(exc).__name__}: {exc}", "failed"
    seconds = time.monotonic() - began
    level = logging.INFO if status in ("ok", "skipped") else logging.WARNING
    log.log(level, "step %s: %s in %.1f s: %s", name, status, seconds, " ".join(detail.split()))
    return StepResult(name, status, round(seconds, 3), detail)


def _record(engine: Engine, run_id: int, results: list[StepResult], final: str | None) -> None:
    values: dict[str, object] = {"steps": [asdict(r) for r in results]}
    if final is not None:
        values.update(status=final, finished_at=utcnow())
    with engine.begin() as conn:
        conn.execute(update(pipeline_runs).where(pipeline_runs.c.id == run_id).values(**values))
