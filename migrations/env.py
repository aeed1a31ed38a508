"""Alembic environment: batch mode for SQLite ALTERs, the models' naming convention, a shared connection if given.

trialfinder.db calls this with `config.attributes["connection"]` set; the `alembic` command line uses the URL from
alembic.ini, or $TRIALFINDER_DATABASE_URL when set.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection, create_engine

from trialfinder.models import metadata

config = context.config
target_metadata = metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies the table instead
        compare_type=True,
        include_name=lambda name, type_, _parent: not (type_ == "table" and name and name.startswith("apscheduler")),
    )


def run_migrations_offline() -> None:
    """Emit SQL to stdout (alembic upgrade --sql)."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run against a live connection: the caller's, or one made from the configured URL."""
    given = config.attributes.get("connection")
    if given is not None:
        _configure(given)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = os.environ.get("TRIALFINDER_DATABASE_URL") or config.get_main_option("sqlalchemy.url")
    assert url, "set sqlalchemy.url in alembic.ini or TRIALFINDER_DATABASE_URL"
    engine = create_engine(url)
    with engine.connect() as connection:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
