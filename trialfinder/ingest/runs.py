"""Sync-run rows and the `sync` lease: a run starts only when no live sync holds the lease (trialfinder/leases.py),
and its row records how it ended; the lease of a dead process is taken over and its run marked failed."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, Engine, insert, update
from sqlalchemy.exc import OperationalError

from trialfinder.leases import DEFAULT_TTL_S, Lease, LeaseBusy, acquire, leases
from trialfinder.models import SyncRun, utcnow

runs = SyncRun


class SyncBusy(Exception):
    """Another sync holds the `sync` lease."""


# The `sync` lease of each run this process holds, released by finish_run.
_held: dict[int, Lease] = {}


def start_run(engine: Engine, mode: str, *, lease_s: float = DEFAULT_TTL_S) -> int:
    """Take the `sync` lease (trialfinder/leases.py) and record a running sync run; SyncBusy when a live sync holds
    it. The lease of a dead process (on any host) is taken over and its run marked failed."""
    try:
        lease = acquire(engine, "sync", ttl_s=lease_s, on_takeover=_fail_dead_run)
    except (LeaseBusy, OperationalError) as exc:
        row = exc.row if isinstance(exc, LeaseBusy) else None
        if row is None:
            raise SyncBusy("another sync is running (it started a moment ago)") from None
        raise SyncBusy(_busy_message(row.since, row.holder)) from None
    try:
        with engine.begin() as conn:
            run_id = int(conn.execute(
                insert(runs).values(started_at=utcnow(), status="running", mode=mode, requests=0).returning(runs.c.id)
            ).scalar_one())
            conn.execute(update(leases).where(leases.c.name == "sync", leases.c.holder == lease.holder)
                         .values(run_id=run_id))  # fmt: skip
    except BaseException:
        lease.release()
        raise
    _held[run_id] = lease
    return run_id


def _fail_dead_run(conn: Connection, old: Any) -> None:
    conn.execute(
        update(runs)
        .where(runs.c.id == old.run_id, runs.c.status == "running")
        .values(status="failed", finished_at=utcnow(),
                error=f"the process running this sync ({old.holder}) ended without finishing")
    )


def _busy_message(started_at: dt.datetime, holder: str) -> str:
    return f"another sync is running (started at {started_at:%Y-%m-%d %H:%M:%S} UTC, process {holder})"


def finish_run(engine: Engine, run_id: int, *, status: str, values: dict[str, Any]) -> None:
    """Record how the run ended and release the `sync` lease, in one transaction."""
    lease = _held.pop(run_id, None)
    if lease is not None:
        lease.stop_renewing()
    with engine.begin() as conn:
        conn.execute(update(runs).where(runs.c.id == run_id).values(status=status, finished_at=utcnow(), **values))
        if lease is not None:
            lease.release(conn)
