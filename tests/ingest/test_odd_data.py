"""Odd data never stops the sync: partial, invalid or future dates, numbers past any column, text longer than its
column and a record the database refuses. Each is stored as far as it can be, or skipped, named, and retried."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from sqlalchemy import select, text

from tests import testdb
from tests.conftest import Project
from trialfinder.ingest.checks import newest_valid_date
from trialfinder.models import Study, StudySearch, studies_with_records


def set_date(value: str) -> Any:
    def change(record: dict[str, Any]) -> None:
        record["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"] = {"date": value, "type": "ACTUAL"}

    return change


def study_row(project: Project, nct_id: str) -> Any:
    with project.engine().connect() as conn:
        return conn.execute(studies_with_records().where(Study.c.nct_id == nct_id)).first()


def windows(project: Project) -> set[str | None]:
    return {r.params.get("filter.advanced") for r in project.api.requests if r.path == "/studies"}


@pytest.mark.parametrize("odd", ["2027-01", "2099-13-45", "soon", "2099-12-31", "2026-02-30"])
def test_an_odd_last_update_date_is_kept_as_text_and_never_drives_the_window(project: Project, odd: str) -> None:
    project.cli("sync")
    with project.engine().connect() as conn:
        newest = str(conn.execute(text("SELECT max(last_update_posted) FROM studies")).scalar())
    first, second = project.api.nct_ids[:2]
    project.api.update(first, set_date(odd))
    project.api.update(second, set_date(newest))  # a valid change, inside the window
    project.cli("sync", "--full")
    assert study_row(project, first).last_update_posted == odd

    project.api.clear_log()
    result = project.cli("sync")  # incremental: used to die with "Invalid isoformat string"
    assert result.stdout.startswith("sync incremental:")
    since = (dt.date.fromisoformat(newest) - dt.timedelta(days=1)).isoformat()
    assert windows(project) == {f"AREA[LastUpdatePostDate]RANGE[{since},MAX]"}


def test_newest_valid_date_skips_partial_invalid_and_future_values() -> None:
    values = ["soon", "2099-13-45", "2030-01-01", "2026-12", "2026-11-31", "2026-11-30", "2026-11-29"]
    assert newest_valid_date(values, "2026-12-04") == "2026-11-30"
    assert newest_valid_date(["2026-12"], "2026-12-04") is None


def test_numbers_past_every_column_are_stored_as_null_with_the_raw_json_intact(project: Project) -> None:
    target = project.api.nct_ids[0]

    def huge(record: dict[str, Any]) -> None:
        record["protocolSection"].setdefault("designModule", {})["enrollmentInfo"] = {"count": 10**30}
        record["protocolSection"]["contactsLocationsModule"] = {
            "locations": [{"facility": "Far away", "geoPoint": {"lat": float("inf"), "lon": 10**400}}]}

    project.api.update(target, huge)
    result = project.cli("sync")
    assert "skipped" not in result.stdout
    row = study_row(project, target)
    assert row.enrollment is None
    with project.engine().connect() as conn:
        assert conn.execute(text(f"SELECT lat, lon FROM study_locations WHERE nct_id = '{target}'")).all() == [
            (None, None)]
    assert json.loads(row.raw_json)["protocolSection"]["designModule"]["enrollmentInfo"]["count"] == 10**30


def test_a_record_that_cannot_be_stored_is_skipped_named_counted_and_retried(
    project: Project, caplog: pytest.LogCaptureFixture
) -> None:
    target = project.api.nct_ids[1]
    project.api.update(target, lambda r: r["protocolSection"]["identificationModule"].update(acronym="A" * 150))
    result = project.cli("sync")
    assert "1 records skipped (they could not be stored; retried next run)" in result.stdout
    assert f"skipped {target}, it cannot be stored: acronym is 150 characters long, its column holds 100" in caplog.text
    assert study_row(project, target) is None
    assert study_row(project, project.api.nct_ids[0]) is not None  # the rest of the page was written
    status = project.cli("status").stdout
    assert "1 skipped (could not be stored; retried next run)" in status
    assert f"skipped by the last sync: {target}" in status

    # Fixed upstream without a newer LastUpdatePostDate: the incremental window would never see it again.
    project.api.update(target, lambda r: r["protocolSection"]["identificationModule"].update(acronym="OK"))
    project.api.update(target, set_date("2001-01-01"))
    again = project.cli("sync")
    assert "skipped" not in again.stdout and ", 1 new," in again.stdout
    assert study_row(project, target).acronym == "OK"
    with project.engine().connect() as conn:
        searches = conn.execute(select(StudySearch.c.search_name).where(
            StudySearch.c.nct_id == target)).scalars().all()  # fmt: skip
    assert searches


@pytest.mark.skipif(testdb.ON_POSTGRES, reason="the refusing trigger is SQLite syntax")
def test_a_record_the_database_refuses_is_skipped_and_the_page_is_written(
    project: Project, caplog: pytest.LogCaptureFixture
) -> None:
    target = project.api.nct_ids[0]
    with project.engine().begin() as conn:
        conn.execute(text(
            f"CREATE TRIGGER refuse BEFORE INSERT ON studies WHEN NEW.nct_id = '{target}' "
            "BEGIN SELECT RAISE(ABORT, 'refused by a test trigger'); END"))  # fmt: skip
    result = project.cli("sync")
    assert "1 records skipped" in result.stdout
    assert f"skipped {target}, it cannot be stored: the database refused it: refused by a test trigger" in caplog.text
    with project.engine().connect() as conn:
        stored = set(conn.execute(select(Study.c.nct_id)).scalars())
    assert target not in stored and len(stored) == len(project.api.nct_ids) - 1

    with project.engine().begin() as conn:
        conn.execute(text("DROP TRIGGER refuse"))
    assert ", 1 new," in project.cli("sync").stdout


def test_a_skipped_record_the_next_run_finds_in_its_pages_is_not_looked_up_again(project: Project) -> None:
    target = project.api.nct_ids[1]
    project.api.update(target, lambda r: r["protocolSection"]["identificationModule"].update(acronym="A" * 150))
    assert "1 records skipped" in project.cli("sync").stdout
    project.api.update(target, lambda r: r["protocolSection"]["identificationModule"].update(acronym="OK"))
    project.api.update(target, set_date(dt.datetime.now(dt.UTC).date().isoformat()))  # inside the window
    before = len(project.api.requests)
    again = project.cli("sync")
    assert "incremental" in again.stdout and ", 1 new," in again.stdout and "skipped" not in again.stdout
    lookups = [r for r in project.api.requests[before:] if "filter.ids" in r.params or r.path != "/studies"]
    assert [r.path for r in lookups] == ["/version"]  # its retry was the page that had it: no check of its own
