"""bulk.insert_rows stores exactly what a plain SQLAlchemy Core executemany stores, on both of its paths."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert, inspect

from tests.testdb import url_for
from tests.worldgen import load_fixture_studies, make_study
from trialfinder.db import open_database
from trialfinder.ingest.bulk import insert_rows
from trialfinder.ingest.normalize import normalize
from trialfinder.models import Study, StudyLocation, StudyVersion, SyncRun

studies = Study
locations = StudyLocation
versions = StudyVersion
runs = SyncRun
NOW = dt.datetime(2026, 11, 20, 9, 30, 15, 123456, tzinfo=dt.UTC)


def study_rows() -> list[dict[str, Any]]:
    rows = []
    for number, record in enumerate([*load_fixture_studies(), *(make_study(i) for i in range(40))], start=1):
        item = normalize(record)
        rows.append({**item.study, "current_version_id": number, "content_hash": item.content_hash})
    rows[0]["phases"] = []
    rows[1]["healthy_volunteers"] = None
    return rows


def location_rows() -> list[dict[str, Any]]:
    return [{"nct_id": item.nct_id, **loc} for item in map(normalize, load_fixture_studies()) for loc in item.locations]


def stored(engine: Engine, table: str) -> list[tuple[Any, ...]]:
    """Every row as the driver returns it, with the type of each value (SQLite's typeof(), else the Python type the
    driver made of the column's SQL type): no SQLAlchemy result processing."""
    with engine.connect() as conn:
        names = [c["name"] for c in inspect(conn).get_columns(table)]
        if engine.dialect.name == "sqlite":
            typed = ", ".join(f"{n}, typeof({n})" for n in names)
            return [tuple(r) for r in conn.exec_driver_sql(f"SELECT {typed} FROM {table} ORDER BY 1, 2")]
        rows = conn.exec_driver_sql(f"SELECT {', '.join(names)} FROM {table} ORDER BY 1, 2")
        return [tuple((v, type(v).__name__) for v in r) for r in rows]


def add_versions(engine: Engine) -> None:
    """The version rows the studies rows point at (study_rows: the n-th study's current version is id n)."""
    with engine.begin() as conn:
        conn.execute(insert(runs), [{"id": 1, "started_at": NOW, "status": "succeeded", "mode": "full"}])
        conn.execute(insert(versions), [
            {"id": row["current_version_id"], "nct_id": row["nct_id"], "content_hash": row["content_hash"],
             "raw_json": "{}", "run_id": 1, "recorded_at": NOW} for row in study_rows()])  # fmt: skip


def fill(engine: Engine, *, fast: bool) -> None:
    stamps = {"first_seen": NOW, "last_seen": NOW, "last_changed": NOW, "removed_at": None, "removed_reason": None}
    add_versions(engine)
    with engine.begin() as conn:
        if fast:
            insert_rows(conn, studies, study_rows(), stamps)
            insert_rows(conn, locations, location_rows())
        else:
            conn.execute(insert(studies), [{**row, **stamps} for row in study_rows()])
            conn.execute(insert(locations), location_rows())


@pytest.mark.parametrize("batched", [False, True], ids=["driver-executemany", "sqlalchemy-batched"])
def test_insert_rows_stores_what_core_executemany_stores(tmp_path: Path, batched: bool) -> None:
    plain = open_database(url_for(tmp_path, "plain"))
    fast = open_database(url_for(tmp_path, "fast"))
    if batched:  # the path dialects that batch INSERTs into multi-row VALUES take (PostgreSQL's psycopg2)
        fast.dialect.use_insertmanyvalues_wo_returning = True
    fill(plain, fast=False)
    fill(fast, fast=True)
    for table in ("studies", "study_locations"):
        want = stored(plain, table)
        assert want and stored(fast, table) == want
    # and the real table's statements still process their values (nothing mixed up in the compiled cache)
    with plain.begin() as conn:
        conn.execute(insert(studies), [{**study_rows()[0], "nct_id": "NCT00000001", "first_seen": NOW,
                                        "last_seen": NOW, "last_changed": NOW}])  # fmt: skip
    with fast.begin() as conn:
        conn.execute(insert(studies), [{**study_rows()[0], "nct_id": "NCT00000001", "first_seen": NOW,
                                        "last_seen": NOW, "last_changed": NOW}])  # fmt: skip
    assert stored(fast, "studies") == stored(plain, "studies")


def test_insert_rows_with_no_rows_does_nothing(tmp_path: Path) -> None:
    engine = open_database(url_for(tmp_path, "empty"))
    with engine.begin() as conn:
        insert_rows(conn, studies, [], {"first_seen": NOW})
    assert stored(engine, "studies") == []


def test_a_column_left_to_its_default_gets_the_default(tmp_path: Path) -> None:
    """has_results has a Python-side default (False): rows without it go through Core, which fills it in."""
    engine = open_database(url_for(tmp_path, "defaults"))
    add_versions(engine)
    rows = study_rows()[:2]
    for row in rows:
        del row["has_results"]
    with engine.begin() as conn:
        insert_rows(conn, studies, rows, {"first_seen": NOW, "last_seen": NOW, "last_changed": NOW})
    with engine.connect() as conn:
        assert [r.has_results for r in conn.execute(studies.select())] == [False, False]


def test_the_driver_gets_multi_row_statements_of_under_a_thousand_values(tmp_path: Path) -> None:
    # sqlite3's executemany gives the GIL back around every row: the rows go as multi-row INSERTs instead.
    from sqlalchemy import event, func, select

    from trialfinder.ingest.bulk import ROWS_VARIABLES

    engine = open_database(url_for(tmp_path, "many"))
    add_versions(engine)
    rows = [dict(row, position=number) for number, row in enumerate(location_rows() * 40)]
    sent: list[tuple[str, int]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def watch(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        if statement.startswith("INSERT INTO study_locations"):
            sent.append((statement, len(params) if not many else -1))

    stamps = {"first_seen": NOW, "last_seen": NOW, "last_changed": NOW, "removed_at": None, "removed_reason": None}
    with engine.begin() as conn:
        insert_rows(conn, studies, study_rows(), stamps)
        insert_rows(conn, locations, [dict(row) for row in rows])
        assert conn.execute(select(func.count()).select_from(locations)).scalar() == len(rows)
    if engine.dialect.name == "sqlite":
        columns = len(rows[0])
        assert all(0 < count <= ROWS_VARIABLES and count % columns == 0 for _, count in sent), sent
        assert len(sent) == -(-len(rows) // (ROWS_VARIABLES // columns)) > 1


@pytest.mark.parametrize("style", ["qmark", "numeric", "named"])
def test_insert_rows_works_with_each_parameter_style_the_driver_may_use(tmp_path: Path, style: str) -> None:
    # Multi-row statements repeat the single row's placeholders: only where they are not numbered.
    from sqlalchemy import create_engine, select

    from trialfinder.models import metadata

    engine = create_engine(f"sqlite:///{tmp_path / 'style.db'}", paramstyle=style)  # foreign keys not enforced
    metadata.create_all(engine)
    rows = [dict(row, position=number) for number, row in enumerate(location_rows() * 30)]
    with engine.begin() as conn:
        insert_rows(conn, locations, [dict(row) for row in rows])
        got = conn.execute(select(locations.c.nct_id, locations.c.position, locations.c.city)
                           .order_by(locations.c.position)).all()  # fmt: skip
    assert [tuple(r) for r in got] == [(row["nct_id"], row["position"], row["city"]) for row in rows]
