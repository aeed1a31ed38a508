"""db.begin_write on SQLite: a transaction that reads, then writes, takes the write lock at BEGIN, so another
process's commit between its read and its write cannot make it fail at once with "database is locked" (the kill -9
scheduler test hit that under load, in the pipeline run's first transaction)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from tests import testdb
from trialfinder import leases
from trialfinder.db import begin_write, big_transaction, make_engine, open_database

pytestmark = pytest.mark.skipif(testdb.ON_POSTGRES, reason="SQLite's locking")


def test_a_read_then_write_transaction_waits_for_nobody_and_is_never_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'locks.db'}"
    ours, other = make_engine(url), make_engine(url, busy_timeout_ms=100)
    with ours.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    with ours.connect() as plain, plain.begin():  # what happened before: refused at once, whatever the timeout
        plain.exec_driver_sql("SELECT count(*) FROM t").all()
        with other.begin() as conn:
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        with pytest.raises(OperationalError, match="locked"):
            plain.exec_driver_sql("INSERT INTO t VALUES (2)")
    with begin_write(ours) as conn:
        conn.exec_driver_sql("SELECT count(*) FROM t").all()
        with pytest.raises(OperationalError, match="locked"), other.begin() as theirs:  # the other one waits
            theirs.exec_driver_sql("INSERT INTO t VALUES (3)")
        conn.exec_driver_sql("INSERT INTO t VALUES (4)")
    with ours.connect() as conn:
        assert [x for (x,) in conn.exec_driver_sql("SELECT x FROM t ORDER BY x")] == [1, 4]
    ours.dispose()
    other.dispose()


def test_the_sync_transaction_holds_the_write_lock_from_its_start(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sync.db'}"
    ours, other = make_engine(url), make_engine(url, busy_timeout_ms=100)
    with ours.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    with big_transaction(ours) as conn:
        conn.exec_driver_sql("SELECT count(*) FROM t").all()  # it reads what it stored first
        with pytest.raises(OperationalError, match="locked"), other.begin() as theirs:  # a renewal, say: it waits
            theirs.exec_driver_sql("INSERT INTO t VALUES (1)")
        conn.exec_driver_sql("INSERT INTO t VALUES (2)")
    with other.connect() as conn:
        assert [x for (x,) in conn.exec_driver_sql("SELECT x FROM t")] == [2]
    ours.dispose()
    other.dispose()


def test_a_lease_is_taken_even_when_another_process_writes_while_it_looks(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The scheduler's job store commits next to the pipeline taking its `sync` lease: that commit must wait for
    the lease's transaction, not make its insert fail with "database is locked" (seen once in CI)."""
    url = f"sqlite:///{tmp_path / 'leases.db'}"
    engine = open_database(url)
    other = make_engine(url, busy_timeout_ms=100)
    real_current, refused = leases.current, []

    def current_while_another_writes(conn: Any, name: str) -> Any:
        try:
            with other.begin() as theirs:
                theirs.exec_driver_sql("UPDATE leases SET holder = holder")
        except OperationalError:
            refused.append(name)  # it had to wait: this transaction holds the write lock
        return real_current(conn, name)

    monkeypatch.setattr(leases, "current", current_while_another_writes)
    lease = leases.acquire(engine, "sync")
    lease.release()
    assert refused == ["sync"]  # the read inside the taking transaction, not the quick one before it
    engine.dispose()
    other.dispose()
