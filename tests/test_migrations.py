"""Alembic: the migrations from nothing to head give exactly the models' schema, which an empty database gets at
once; a second open is a no-op; 0009
(each record stored once) keeps every version and every output byte of a 0007 database with data."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Engine, MetaData, Table, Text, create_engine, insert, inspect, select, text

from tests import testdb
from tests.conftest import Project, write_config
from tests.scenario import run_scenario
from trialfinder.db import (
    HEAD_REVISION,
    alembic_config,
    current_revision,
    head_revision,
    make_engine,
    open_database,
    upgrade,
)
from trialfinder.models import Study, StudyVersion, metadata, studies_with_records


def test_the_migrations_from_empty_to_head_equal_the_models(database_url: str) -> None:
    engine = upgrade_to(database_url, "head")
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        assert compare_metadata(context, metadata) == []
        assert context.get_current_revision() == head_revision(database_url) == HEAD_REVISION
    assert current_revision(engine) == HEAD_REVISION


def test_an_empty_database_gets_the_models_schema_at_head_without_alembic(database_url: str) -> None:
    engine = open_database(database_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        assert compare_metadata(context, metadata) == []
        assert context.get_current_revision() == HEAD_REVISION
    assert current_revision(engine) == HEAD_REVISION
    assert set(inspect(engine).get_table_names()) == set(metadata.tables) | {"alembic_version"}
    open_database(database_url)  # already at head: nothing to do, nothing fails
    with make_engine(database_url).begin() as conn:  # and Alembic can take it from there
        cfg = alembic_config(database_url)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
        command.check(cfg)


# --- 0009: each record stored once -------------------------------------------------------------------------------

EXPORTED = dt.datetime(2026, 11, 28, 12, 0, 0, tzinfo=dt.UTC)


def upgrade_to(url: str, revision: str) -> Engine:
    """A database at `revision` (not head): what an older trialfinder left."""
    engine = make_engine(url)
    cfg = alembic_config(url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    return engine


def studies_0007() -> Table:
    """The studies table as revision 0007 had it: the current record in raw_json, no version id."""
    studies = Study
    columns = [Column(c.name, c.type, primary_key=c.primary_key) for c in studies.c if c.name != "current_version_id"]
    return Table("studies", MetaData(), *columns, Column("raw_json", Text()))


def copy_as_0007(source: Engine, target: Engine) -> None:
    """Every row of a head database into a 0007 one, each study's current record copied into studies.raw_json."""
    with source.connect() as read, target.begin() as write:
        for table in metadata.sorted_tables:
            if table.name == "studies":
                versions = StudyVersion
                query = select(table, versions.c.raw_json).join(versions, versions.c.id == table.c.current_version_id)
                rows = [{k: v for k, v in row._mapping.items() if k != "current_version_id"}
                        for row in read.execute(query)]  # fmt: skip
                into = studies_0007()
            else:
                rows = [dict(row._mapping) for row in read.execute(select(table))]
                into = table
            if rows:
                write.execute(insert(into), rows)
            if write.dialect.name == "postgresql" and "id" in table.c:  # rows copied with their ids: move the sequence
                write.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                                   f"COALESCE(MAX(id), 0) + 1, false) FROM {table.name}"))  # fmt: skip


def outputs(project: Project, out: Path) -> dict[str, bytes]:
    """What users get: every export table (CSV and JSON Lines), the digest, and every file of the rendered site."""
    found: dict[str, bytes] = {}
    for table in ("studies", "locations", "events", "versions"):
        for fmt in ("csv", "jsonl"):
            found[f"export {table}.{fmt}"] = project.cli("export", "--table", table, "--format", fmt).stdout.encode()
    found["digest"] = project.cli("digest", "--since", "2000-01-01").stdout.encode()
    project.cli("render", "-o", str(out))
    for path in sorted(out.rglob("*")):
        if path.is_file() and path.name != ".render-manifest.json":  # the manifest holds the files' mtimes
            found[path.relative_to(out).as_posix()] = path.read_bytes()
    return found


def test_0009_keeps_every_version_and_every_output_byte(project: Project, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    for module in ("trialfinder.export.writers", "trialfinder.export.datapackage"):
        monkeypatch.setattr(f"{module}.utcnow", lambda: EXPORTED)
    run_scenario(project)
    head = project.engine()
    before = outputs(project, tmp_path / "site-head")
    assert any(name.endswith(".html") for name in before) and before["export versions.jsonl"]

    old_dir = tmp_path / "old"
    old_dir.mkdir()
    old = Project(old_dir, project.api, write_config(old_dir, project.api.base_url))
    old_engine = upgrade_to(old.config.database.url, "0007")
    copy_as_0007(head, old_engine)
    with old_engine.connect() as conn:
        kept = conn.execute(text("SELECT id, nct_id, content_hash, raw_json FROM study_versions ORDER BY id")).all()
        records = {row.nct_id: row.raw_json for row in conn.execute(text("SELECT nct_id, raw_json FROM studies"))}
    assert len(kept) > len(records)  # the scenario changed some studies: several versions of them

    after = outputs(old, tmp_path / "site-upgraded")  # the first command upgrades the database
    assert current_revision(old_engine) == HEAD_REVISION
    assert sorted(after) == sorted(before)
    for name, content in before.items():
        assert after[name] == content, name
    with old_engine.connect() as conn:
        assert conn.execute(text("SELECT id, nct_id, content_hash, raw_json FROM study_versions ORDER BY id")).all() \
            == kept  # fmt: skip
        current = {row.nct_id: row.raw_json for row in conn.execute(studies_with_records())}
    assert current == records
    assert "raw_json" not in {c["name"] for c in inspect(old_engine).get_columns("studies")}


def test_0009_gives_a_record_found_in_no_version_a_version_of_its_own(project: Project) -> None:
    run_scenario(project)
    engine = upgrade_to(testdb.url_for(project.path, "old"), "0007")
    copy_as_0007(project.engine(), engine)
    target = project.api.nct_ids[0]
    with engine.begin() as conn:  # an older database whose current record was never written as a version
        conn.execute(text("UPDATE studies SET raw_json = :raw WHERE nct_id = :id"),
                     {"raw": json.dumps({"protocolSection": {"identificationModule": {"nctId": target}}}),
                      "id": target})  # fmt: skip
        count = conn.execute(text("SELECT COUNT(*) FROM study_versions")).scalar_one()
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM study_versions")).scalar_one() == count + 1
        row = conn.execute(studies_with_records().where(Study.c.nct_id == target)).one()
        newest = conn.execute(text("SELECT MAX(id) FROM study_versions")).scalar_one()
    assert row.current_version_id == newest and target in row.raw_json


@pytest.mark.skipif(testdb.ON_POSTGRES, reason="SQLite's batch copy of a table; PostgreSQL checks every reference")
def test_a_sqlite_upgrade_that_leaves_a_dangling_reference_is_rolled_back(database_url: str) -> None:
    upgrade_to(database_url, "0007")
    with create_engine(database_url).begin() as conn:  # foreign keys unchecked: a row pointing at no study
        conn.execute(text("INSERT INTO study_locations (nct_id, position, contacts) VALUES ('NCT09999999', 0, '[]')"))
    engine = make_engine(database_url)
    with pytest.raises(RuntimeError, match="pointing at nothing"):
        upgrade(engine)
    assert current_revision(engine) == "0007"
    assert "raw_json" in {c["name"] for c in inspect(engine).get_columns("studies")}


@pytest.mark.skipif(testdb.ON_POSTGRES, reason="SQLite's page size")
def test_a_new_sqlite_database_gets_64_kib_pages_and_an_old_one_keeps_its_own(tmp_path: Path) -> None:
    import sqlite3

    from trialfinder.db import SQLITE_PAGE_SIZE, open_database

    open_database(f"sqlite:///{tmp_path / 'new.db'}").dispose()
    old = sqlite3.connect(tmp_path / "old.db")
    old.execute("CREATE TABLE kept (x)")  # a database made before: SQLite's default 4 KiB pages
    old.close()
    open_database(f"sqlite:///{tmp_path / 'old.db'}").dispose()
    sizes = {name: sqlite3.connect(tmp_path / name).execute("PRAGMA page_size").fetchone()[0]
             for name in ("new.db", "old.db")}  # fmt: skip
    assert sizes == {"new.db": SQLITE_PAGE_SIZE, "old.db": 4096}
