"""The database the tests use: by default SQLite in each project's folder; with TRIALFINDER_TEST_DATABASE_URL (a
PostgreSQL server URL, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/postgres) one scratch database per test
session, created on first use and dropped at the end, with one schema per project folder (scripts/test.sh runs
the suite a second time that way)."""

from __future__ import annotations

import hashlib
import os
from functools import cache
from pathlib import Path

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

SERVER_URL = os.environ.get("TRIALFINDER_TEST_DATABASE_URL") or None  # read at import: conftest clears TRIALFINDER_*
ON_POSTGRES = SERVER_URL is not None


@cache
def _admin() -> Engine:
    assert SERVER_URL is not None
    return create_engine(SERVER_URL, isolation_level="AUTOCOMMIT", pool_size=1)


@cache
def _session_database() -> str:
    name = f"trialfinder_test_{os.getpid()}"
    with _admin().connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    return name


@cache
def _session_engine() -> Engine:
    assert SERVER_URL is not None
    url = make_url(SERVER_URL).set(database=_session_database())
    return create_engine(url, isolation_level="AUTOCOMMIT", pool_size=1)


def url_for(directory: Path, name: str = "tf") -> str:
    """The database URL of a project folder: SQLite `name`.db inside it, or its own PostgreSQL schema."""
    if SERVER_URL is None:
        return f"sqlite:///{directory.resolve() / name}.db"
    schema = "t_" + hashlib.blake2b(f"{directory.resolve()}/{name}".encode(), digest_size=12).hexdigest()
    with _session_engine().connect() as conn:
        conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    url = make_url(SERVER_URL).set(database=_session_database(), query={"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


def database_section(directory: Path) -> str:
    """The [database] section of a test config, or nothing on SQLite (the default database next to the config)."""
    return f'\n[database]\nurl = "{url_for(directory)}"\n' if ON_POSTGRES else ""


def drop_session_database() -> None:
    """Drop the scratch PostgreSQL database of this session, if one was made."""
    if SERVER_URL is None or _session_database.cache_info().currsize == 0:
        return
    _session_engine().dispose()
    with _admin().connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{_session_database()}" WITH (FORCE)'))
