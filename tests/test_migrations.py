"""Alembic: upgrading an empty database to head gives exactly the models' schema; a second open is a no-op."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from trialfinder.db import HEAD_REVISION, current_revision, head_revision, open_database
from trialfinder.models import Base


def test_upgrade_from_empty_to_head_equals_the_models(database_url: str) -> None:
    url = database_url
    engine = open_database(url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        assert compare_metadata(context, Base.metadata) == []
        assert context.get_current_revision() == head_revision(url) == HEAD_REVISION
    assert current_revision(engine) == HEAD_REVISION
    assert set(inspect(engine).get_table_names()) == set(Base.metadata.tables) | {"alembic_version"}
    open_database(url)  # already at head: nothing to do, nothing fails
