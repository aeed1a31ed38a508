"""One active `trialfinder schedule` per database: the leader holds the `scheduler` lease (trialfinder/leases.py);
any other waits as a standby and takes over when the leader dies (PostgreSQL: its connection drops; SQLite: its
lease of [schedule] leader_lease_s expires)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from trialfinder import leases

log = logging.getLogger(__name__)

LEASE_NAME = "scheduler"


def become_leader(
    engine: Engine, lease_s: float, stop: threading.Event, on_lost: Callable[[], None]
) -> leases.Lease | None:
    """Block until this process holds the `scheduler` lease (None when `stop` is set first). While another
    scheduler is active, say so once and retry every third of the lease time."""
    waiting_for: str | None = None
    while not stop.is_set():
        try:
            lease = leases.acquire(engine, LEASE_NAME, ttl_s=lease_s, on_lost=on_lost)
        except leases.LeaseBusy as busy:
            holder = busy.row.holder if busy.row is not None else "another process"
            if holder != waiting_for:
                beat = f", last beat {busy.row.beat_at:%Y-%m-%d %H:%M:%S} UTC" if busy.row is not None else ""
                log.info("standby: the scheduler of %s is active%s; waiting to take over", holder, beat)
                waiting_for = holder
        except OperationalError as exc:  # SQLite busy with a long write: try again
            log.debug("scheduler lease not taken this time: %s", exc)
        else:
            log.info("active scheduler: %s", lease.holder)
            return lease
        stop.wait(max(lease_s / 3, 0.2))
    return None
