"""The `sync` lease cannot outlive its owner: a planted lock of a dead process (another host, or a gone pid here) is
taken over and its run marked failed; a live holder refuses the sync with exit 3; `status` names the holder."""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Engine, func, insert, select

from tests.conftest import Project
from trialfinder.leases import advisory_key, leases
from trialfinder.models import SyncRun, utcnow

runs = SyncRun


def plant(engine: Engine, holder: str, *, expires_in_s: float) -> int:
    """A running sync run and its `sync` lease, as a process that died (or still runs) elsewhere leaves them."""
    since = utcnow() - dt.timedelta(hours=2)
    with engine.begin() as conn:
        run_id = conn.execute(insert(runs).values(started_at=since, status="running", mode="full", requests=0)
                              .returning(runs.c.id)).scalar_one()  # fmt: skip
        conn.execute(insert(leases).values(name="sync", holder=holder, run_id=run_id, since=since,
                                           beat_at=since, expires_at=utcnow() + dt.timedelta(seconds=expires_in_s)))
    return int(run_id)


@contextmanager
def live_holder(engine: Engine) -> Iterator[None]:
    """On PostgreSQL a live holder keeps the session advisory lock; on SQLite its unexpired lease is the proof."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as conn:
        assert conn.execute(select(func.pg_try_advisory_lock(advisory_key("sync")))).scalar_one()
        conn.commit()
        yield
        conn.execute(select(func.pg_advisory_unlock(advisory_key("sync"))))
        conn.commit()


def run_status(engine: Engine, run_id: int) -> tuple[str, str | None]:
    with engine.connect() as conn:
        row = conn.execute(select(runs.c.status, runs.c.error).where(runs.c.id == run_id)).one()
    return row.status, row.error


def test_a_planted_lock_of_a_dead_host_is_taken_over_and_the_next_sync_runs(
    project: Project, caplog: pytest.LogCaptureFixture
) -> None:
    engine = project.engine()
    # expired: on SQLite that is what tells a dead host; on PostgreSQL nobody holds the advisory lock either way
    dead = plant(engine, "db-host-gone:4242", expires_in_s=-60)
    project.cli("sync")
    assert "took over the sync lock of db-host-gone:4242" in caplog.text
    status, error = run_status(engine, dead)
    assert status == "failed" and error is not None and "db-host-gone:4242" in error
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(leases)).scalar_one() == 0  # released after the run
    assert "Locks: none held" in project.cli("status").stdout


def test_a_lock_of_a_gone_local_process_is_taken_over_at_once(project: Project) -> None:
    engine = project.engine()
    dead = plant(engine, f"{socket.gethostname()}:999999999", expires_in_s=3600)
    project.cli("sync")
    assert run_status(engine, dead)[0] == "failed"


def test_a_live_holder_on_another_host_refuses_the_sync_and_status_names_it(project: Project) -> None:
    engine = project.engine()
    with live_holder(engine):
        plant(engine, "db-host-2:777", expires_in_s=3600)
        refused = project.cli("sync", expect=3)
        assert "another sync is running (started at" in refused.stderr and "db-host-2:777" in refused.stderr
        status = project.cli("status").stdout
        assert "sync: db-host-2:777 (sync run #" in status and "since 20" in status
