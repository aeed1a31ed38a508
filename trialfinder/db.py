"""Engine, sessions and migrations. Every SQLite specific (PRAGMAs) lives here or in migrations/env.py.

`open_database(url)` returns an engine whose schema is at the newest Alembic revision: a new or older database is
created or upgraded on first use.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import logging
import os
import platform
import threading
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import OperationalError, ProgrammingError

from trialfinder.resources import migrations_dir

if TYPE_CHECKING:  # Alembic is imported only to upgrade (or to read the migrations folder)
    from alembic.config import Config as AlembicConfig

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_PAGE_SIZE = 65_536  # the largest SQLite has: see _sqlite_pragmas
MIGRATION_LOCK_KEY = 0x7472_6961_6C66_0001  # PostgreSQL advisory lock key of schema upgrades ("trialf" + 1)
# The newest revision in migrations/versions: a database at it needs no Alembic at all. tests/test_migrations.py
# keeps it equal to the folder's head.
HEAD_REVISION = "0009"


# glibc's malloc serves a block of at least its mmap threshold (128 KiB at start) with its own mmap, unmapped when
# freed; but each such block freed raises the threshold to its size (up to 32 MiB). A sync's page bodies are ~30 MB
# each (1000 real-shaped studies): once the first was freed, every later one, and each page's working set, came from
# the heap arenas, which grew with the number of pages and kept the freed memory resident. Measured with
# benchmarks/bench_sync.py's worlds (2 shared cores, loaded): peak RSS of an unchanged full re-sync 138 MB at 5,000
# studies and 235 MB at 50,000; with this fixed threshold 138 and 154 MB (a first sync 157 and 176 MB; 167 MB at
# 6,000, whose every page, like those at 50,000, follows a full one), as fast. Any fixed value under the body size
# measured alike (128 KiB to 16 MiB). MALLOC_MMAP_THRESHOLD_ in the environment, glibc's own knob, is left to rule.
MALLOC_MMAP_THRESHOLD = 1 << 20
_M_MMAP_THRESHOLD = -3  # mallopt's parameter number (glibc malloc.h)


def fix_malloc_mmap_threshold() -> bool:
    """glibc: serve blocks of MALLOC_MMAP_THRESHOLD bytes or more with their own mmap, returned to the system when
    freed, for the rest of the process (see the comment above). Returns whether it was set (not on other C
    libraries, nor when MALLOC_MMAP_THRESHOLD_ is in the environment)."""
    if platform.libc_ver()[0] != "glibc" or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MALLOC_MMAP_THRESHOLD))


def make_engine(url: str, *, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS) -> Engine:
    """An engine for `url`; SQLite gets WAL (readers never wait for the sync), foreign keys and a busy timeout."""
    engine = create_engine(url, future=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", lambda conn, record: _sqlite_pragmas(conn, busy_timeout_ms))
        # pysqlite opens transactions lazily and never for SELECT; take over so BEGIN is explicit (SQLAlchemy docs,
        # "Serializable isolation / Savepoints / Transactional DDL").
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITES) else "BEGIN")


_WRITES = "trialfinder_writes"


@contextlib.contextmanager
def begin_write(engine: Engine) -> Iterator[Connection]:
    """`engine.begin()` for a transaction that reads, then writes. SQLite: the write lock is taken at BEGIN
    (BEGIN IMMEDIATE, waiting up to the busy timeout), because a plain transaction that read first cannot wait to
    write: it fails at once with "database is locked" when another process committed since its read. Elsewhere:
    just `engine.begin()`."""
    with engine.connect() as conn:
        conn.execution_options(**{_WRITES: True})
        with conn.begin():
            yield conn


def _sqlite_pragmas(dbapi_connection: Any, busy_timeout_ms: int) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")  # first: switching to WAL waits for others too
    # Before WAL, and only taken by a new, empty file (an existing database keeps its page size): a study's record
    # is ~30 KB, and with 64 KiB pages inserting 5,000 of them made a fifth of the write calls and took about
    # 0.23 s instead of 0.40 s (half the system time) against SQLite's default 4 KiB.
    cursor.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@contextlib.contextmanager
def big_transaction(engine: Engine) -> Iterator[Connection]:
    """`engine.begin()` for a transaction that writes a lot (a sync run): all or nothing as ever.

    SQLite: the write lock is taken at BEGIN, as `begin_write` does (the sync reads what it stored, then writes: a
    lease renewed in between must not refuse its writes). Its commit does not copy the write-ahead log into the
    database file (wal_autocheckpoint is off on its connection while it runs); a thread does that right after the
    commit (`checkpoint`), while the caller goes on (readers never wait for a checkpoint in WAL mode). Elsewhere:
    just `engine.begin()`. On any database, large blocks are given back to the system once freed from then on
    (`fix_malloc_mmap_threshold`), so the peak memory of a run does not grow with its number of pages.
    """
    fix_malloc_mmap_threshold()
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            yield conn
        return
    with engine.connect() as conn:
        driver = conn.connection.driver_connection
        assert driver is not None
        (pages,) = driver.execute("PRAGMA wal_autocheckpoint").fetchone()
        driver.execute("PRAGMA wal_autocheckpoint=0")
        conn.execution_options(**{_WRITES: True})
        try:
            with conn.begin():
                yield conn
        finally:
            driver.execute(f"PRAGMA wal_autocheckpoint={int(pages)}")
    thread = threading.Thread(target=checkpoint, args=(engine,), name="wal-checkpoint")
    thread.start()
    _checkpoints[engine] = [*(t for t in _checkpoints.get(engine, []) if t.is_alive()), thread]


# The checkpoint threads started for each engine, so that `dispose` can let them finish before it closes all.
_checkpoints: weakref.WeakKeyDictionary[Engine, list[threading.Thread]] = weakref.WeakKeyDictionary()


def dispose(engine: Engine) -> None:
    """Close every connection of `engine` once its checkpoints after a sync (big_transaction) are done; SQLite
    then folds the write-ahead log into the database file and removes it."""
    for thread in _checkpoints.pop(engine, []):
        thread.join()
    engine.dispose()


def checkpoint(engine: Engine) -> tuple[int, int] | None:
    """SQLite: copy the write-ahead log into the database file without blocking or waiting for anyone (PASSIVE; the
    next writer then starts the log from its beginning again). Returns the log's frames and those copied; None when
    it could not run (logged, never raised: the next commit or close checkpoints anyway)."""
    try:
        raw = engine.raw_connection()
        try:
            driver = raw.driver_connection
            assert driver is not None
            _busy, frames, copied = driver.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        finally:
            raw.close()
    except Exception as exc:  # a checkpoint is housekeeping: the data is committed already
        log.debug("WAL checkpoint after a sync did not run: %s", exc)
        return None
    log.debug("WAL checkpoint after a sync: %d of %d frames copied", copied, frames)
    return int(frames), int(copied)


def alembic_config(url: str) -> AlembicConfig:
    """An Alembic config pointing at the shipped migrations folder and `url`."""
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision(url: str) -> str | None:
    """The newest revision in the migrations folder."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision (no-op when it already is). Processes opening one database at once
    (web workers, the scheduler) take turns: one migrates, the others then find it at head."""
    if current_revision(engine) == HEAD_REVISION:
        return
    with _migration_lock(engine):
        if current_revision(engine) == HEAD_REVISION:  # another process did it while we waited
            return
        if _create_if_empty(engine):
            return
        from alembic import command

        cfg = alembic_config(engine.url.render_as_string(hide_password=False))
        with engine.connect() as connection, _foreign_keys_off_while_migrating(connection), connection.begin():
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")
            _check_foreign_keys(connection)


def _create_if_empty(engine: Engine) -> bool:
    """A database without any table gets the models' schema at once, stamped HEAD_REVISION, in one transaction:
    what the migrations from nothing build (tests/test_migrations.py holds the two equal), without Alembic."""
    from sqlalchemy import inspect

    from trialfinder.models import metadata

    with engine.begin() as conn:
        if inspect(conn).get_table_names():
            return False
        metadata.create_all(conn)
        conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
                          "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"))  # Alembic's own table
        conn.execute(text("INSERT INTO alembic_version (version_num) VALUES (:head)"), {"head": HEAD_REVISION})
    return True


@contextlib.contextmanager
def _foreign_keys_off_while_migrating(connection: Connection) -> Iterator[None]:
    """SQLite: foreign keys off around the upgrade's transaction (set outside it: SQLite ignores the PRAGMA inside
    one), as SQLite's own procedure for schema changes asks: batch mode copies a table and drops the original,
    which rows of other tables refer to. `_check_foreign_keys` then checks every row before the commit."""
    if connection.dialect.name != "sqlite":
        yield
        return
    driver = connection.connection.driver_connection
    assert driver is not None
    driver.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        driver.execute("PRAGMA foreign_keys=ON")


def _check_foreign_keys(connection: Connection) -> None:
    """SQLite: refuse (roll back) an upgrade that left a row pointing at nothing."""
    if connection.dialect.name == "sqlite":
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"the database upgrade left {len(broken)} rows pointing at nothing, e.g. {broken[0]}")


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """PostgreSQL: a session advisory lock; SQLite: an exclusive flock on `<database>-migrate.lock` beside it (never
    on the database file itself: closing any descriptor of it drops SQLite's own POSIX locks in this process);
    nothing for an in-memory database."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
                conn.commit()
        return
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    if not path or path == ":memory:" or path.startswith("file:"):
        yield
        return
    with open(f"{path}-migrate.lock", "ab") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def current_revision(engine: Engine) -> str | None:
    """The database's Alembic revision, read with plain SQL; None for a database without one."""
    with engine.connect() as connection:
        try:
            with connection.begin():
                rows = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        except (OperationalError, ProgrammingError):  # no alembic_version table yet
            return None
    return rows[0] if len(rows) == 1 else None


def open_database(url: str) -> Engine:
    """An engine for `url` with the schema upgraded to head."""
    engine = make_engine(url)
    upgrade(engine)
    return engine


@contextlib.contextmanager
def connection_of(source: Engine | Connection) -> Iterator[Connection]:
    """The given connection as it is, or a new one from the given engine (closed afterwards)."""
    if isinstance(source, Connection):
        yield source
    else:
        with source.connect() as conn:
            yield conn
