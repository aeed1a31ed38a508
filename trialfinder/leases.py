"""Leases: named locks in the database (table `leases`) that cannot outlive their owner.

One row per held lock: who holds it (host:pid), since when, its last beat and when it expires. The holder renews it
from a background thread every third of its time. A lock is taken over (logged) when its owner is gone:
- on PostgreSQL the holder also keeps a session advisory lock on a connection of its own, which the server drops
  with the connection when the process dies; so a row whose advisory lock is free belongs to a dead process;
- on SQLite when the lease expired (a holder inside a write transaction keeps SQLite's write lock, so nobody can
  take its row over meanwhile), or at once when the holder was a process on this host that no longer exists.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import socket
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from trialfinder.db import begin_write
from trialfinder.models import Lease as LeaseRow
from trialfinder.models import utcnow

log = logging.getLogger(__name__)
leases = LeaseRow

DEFAULT_TTL_S = 300.0

TakeOver = Callable[[Connection, Any], None]


class LeaseBusy(Exception):
    """Another live process holds the lease; `row` is its leases row (None when it was not readable)."""

    def __init__(self, row: Any) -> None:
        super().__init__(f"held by {row.holder} since {row.since:%Y-%m-%d %H:%M:%S} UTC" if row else "held")
        self.row = row


def this_process() -> str:
    """`host:pid` of this process, as stored in `leases.holder`."""
    return f"{socket.gethostname()}:{os.getpid()}"


def advisory_key(name: str) -> int:
    """The PostgreSQL advisory lock key (a signed 64-bit integer) of a lease name."""
    return int.from_bytes(hashlib.blake2b(f"trialfinder:{name}".encode(), digest_size=8).digest(), "big", signed=True)


def holder_gone(holder: str) -> bool:
    """True when `holder` was a process on this host that no longer exists."""
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class Lease:
    """A held lease: renewed in the background until `release()`."""

    def __init__(
        self, engine: Engine, name: str, holder: str, ttl_s: float, advisory: Connection | None,
        on_lost: Callable[[], None] | None = None,
    ) -> None:
        self.engine, self.name, self.holder, self.ttl_s = engine, name, holder, ttl_s
        self._advisory, self._on_lost = advisory, on_lost
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew_loop, name=f"lease-{name}", daemon=True)
        self._thread.start()

    def renew(self) -> bool:
        """Push the expiry on; False when the row is no longer ours (taken over)."""
        now = utcnow()
        with self.engine.begin() as conn:
            done = conn.execute(
                update(leases).where(leases.c.name == self.name, leases.c.holder == self.holder)
                .values(beat_at=now, expires_at=now + dt.timedelta(seconds=self.ttl_s))
            )
        return done.rowcount == 1

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.ttl_s / 3):
            try:
                if not self.renew():
                    log.warning("the %s lock of %s was taken over by another process", self.name, self.holder)
                    if self._on_lost is not None:
                        self._on_lost()
                    return
            except OperationalError as exc:  # SQLite: our own long write transaction holds the database
                log.debug("lease %s not renewed this time: %s", self.name, exc)

    def stop_renewing(self) -> None:
        """End the renewals (call before opening the transaction that releases: a renewal may be waiting for it)."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()

    def release(self, conn: Connection | None = None) -> None:
        """Stop renewing and delete the row (in `conn`'s transaction when given); drop the advisory lock."""
        self.stop_renewing()
        statement = delete(leases).where(leases.c.name == self.name, leases.c.holder == self.holder)
        if conn is not None:
            conn.execute(statement)
        else:
            with self.engine.begin() as own:
                own.execute(statement)
        if self._advisory is not None:
            self._advisory.execute(select(func.pg_advisory_unlock(advisory_key(self.name))))
            self._advisory.commit()
            self._advisory.close()
            self._advisory = None


def acquire(
    engine: Engine, name: str, *, run_id: int | None = None, ttl_s: float = DEFAULT_TTL_S,
    on_takeover: TakeOver | None = None, on_lost: Callable[[], None] | None = None,
) -> Lease:
    """Take the lease `name`, taking over one whose owner is gone (`on_takeover(conn, old_row)` runs in the same
    transaction); LeaseBusy when a live process holds it. `on_lost()` runs if a renewal finds it taken over."""
    advisory = _advisory_lock(engine, name)
    try:
        lease = _take_row(engine, name, run_id, ttl_s, on_takeover)
        return Lease(engine, name, lease, ttl_s, advisory, on_lost)
    except BaseException:
        if advisory is not None:
            advisory.close()  # ends the session: the advisory lock goes with it
        raise


def _advisory_lock(engine: Engine, name: str) -> Connection | None:
    if engine.dialect.name != "postgresql":
        return None
    conn = engine.connect()
    got = conn.execute(select(func.pg_try_advisory_lock(advisory_key(name)))).scalar_one()
    conn.commit()
    if got:
        return conn
    conn.close()
    with engine.connect() as reader:
        raise LeaseBusy(current(reader, name))


def _take_row(engine: Engine, name: str, run_id: int | None, ttl_s: float, on_takeover: TakeOver | None) -> str:
    """Write this process's row (taking over a dead owner's); returns the holder written."""
    holder, now = this_process(), utcnow()
    with engine.connect() as reader:  # a live holder is said at once, without waiting for the write lock
        old = current(reader, name)
    if old is not None and not _gone(engine, old, now):
        raise LeaseBusy(old)
    try:
        with begin_write(engine) as conn:  # it reads, then writes: on SQLite the write lock is taken first
            old = current(conn, name)
            if old is not None:
                if not _gone(engine, old, now):
                    raise LeaseBusy(old)
                taken = conn.execute(delete(leases).where(leases.c.name == name, leases.c.holder == old.holder,
                                                          leases.c.since == old.since))  # fmt: skip
                if taken.rowcount != 1:
                    raise LeaseBusy(current(conn, name))
                log.warning("took over the %s lock of %s (since %s UTC, last beat %s UTC): its process is gone",
                            name, old.holder, f"{old.since:%Y-%m-%d %H:%M:%S}", f"{old.beat_at:%Y-%m-%d %H:%M:%S}")
                if on_takeover is not None:
                    on_takeover(conn, old)
            with conn.begin_nested():
                conn.execute(insert(leases).values(name=name, holder=holder, run_id=run_id, since=now, beat_at=now,
                                                   expires_at=now + dt.timedelta(seconds=ttl_s)))  # fmt: skip
    except IntegrityError:
        with engine.connect() as reader:
            raise LeaseBusy(current(reader, name)) from None
    return holder


def _gone(engine: Engine, old: Any, now: dt.datetime) -> bool:
    # on PostgreSQL we hold the advisory lock when we look: the row's owner is gone
    return engine.dialect.name == "postgresql" or old.expires_at <= now or holder_gone(old.holder)


def current(conn: Connection, name: str) -> Any:
    """The leases row of `name`, or None."""
    return conn.execute(select(leases).where(leases.c.name == name)).first()


def all_leases(conn: Connection) -> list[Any]:
    """Every held lease, by name (for `status`)."""
    return list(conn.execute(select(leases).order_by(leases.c.name)))
