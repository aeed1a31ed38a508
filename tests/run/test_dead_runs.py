"""Pipeline runs left `running` by a process that died are marked failed by the next run, as sync runs are."""

from __future__ import annotations

import datetime as dt
import socket
import subprocess
import sys
from typing import Any

from sqlalchemy import insert, select

from tests.conftest import Project
from trialfinder.models import PipelineRun, utcnow
from trialfinder.processes import holder
from trialfinder.run.pipeline import run_steps


def test_runs_of_dead_processes_are_marked_failed_and_live_ones_are_left(project: Project) -> None:
    engine = project.engine()
    runs = PipelineRun
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    now = utcnow()
    rows: dict[str, dict[str, Any]] = {
        "dead": {"holder": f"{socket.gethostname()}:{child.pid}", "started_at": now},
        "live": {"holder": holder(), "started_at": now},
        "other host": {"holder": "elsewhere.example:1", "started_at": now},
        "unrecorded, old": {"holder": None, "started_at": now - dt.timedelta(days=2)},
        "unrecorded, recent": {"holder": None, "started_at": now},
    }
    with engine.begin() as conn:
        ids = {name: conn.execute(insert(runs).values(trigger=name, status="running", steps=[], **values)
                                  .returning(runs.c.id)).scalar_one() for name, values in rows.items()}  # fmt: skip
    result = run_steps(project.config, engine, [], full=False)
    with engine.connect() as conn:
        status = {r.trigger: r.status for r in conn.execute(select(runs.c.trigger, runs.c.status))}
    assert status == {"dead": "failed", "live": "running", "other host": "running", "unrecorded, old": "failed",
                      "unrecorded, recent": "running", "manual": "succeeded"}
    assert result.run_id not in ids.values()
