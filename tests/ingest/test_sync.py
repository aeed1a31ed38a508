"""Sync against the fake ClinicalTrials.gov API over real HTTP: paging, totals, incremental windows, versions,
removal, aliases, and the database left exactly as before a failed run."""

from __future__ import annotations

import copy
import gc
import json
from typing import Any

import pytest
import requests
from sqlalchemy import Engine, select, text

from tests.conftest import Project
from trialfinder.config import DEFAULT_SEARCHES
from trialfinder.ingest.client import ApiClient
from trialfinder.ingest.sync import SyncFailed, _candidates
from trialfinder.models import Study, StudySearch, StudyVersion, SyncRun
from trialfinder.run.sync import DEFAULT_HANDLERS, run_sync

DATA_TABLES = ("studies", "study_versions", "study_locations", "study_searches")


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every data table, in a stable order."""
    with engine.connect() as conn:
        return {
            name: sorted(tuple(map(repr, row)) for row in conn.execute(text(f"SELECT * FROM {name}")))
            for name in DATA_TABLES
        }


def expected_ids(project: Project) -> dict[str, set[str]]:
    """What each default search finds, asked of the fake API directly."""
    found: dict[str, set[str]] = {}
    for search in DEFAULT_SEARCHES:
        body = requests.get(f"{project.api.base_url}/studies", params={**search.params, "pageSize": "1000"}, timeout=5)
        body.raise_for_status()
        found[search.name] = {s["protocolSection"]["identificationModule"]["nctId"] for s in body.json()["studies"]}
    return found


def versions_of(engine: Engine, nct_id: str) -> list[Any]:
    with engine.connect() as conn:
        table = StudyVersion
        return list(conn.execute(select(table).where(table.c.nct_id == nct_id).order_by(table.c.id)))


def set_status(status: str) -> Any:
    def change(record: dict[str, Any]) -> None:
        record["protocolSection"]["statusModule"]["overallStatus"] = status

    return change


def test_full_sync_pages_through_every_search_and_stores_each_study(project: Project) -> None:
    result = project.cli("sync")
    studies_requests = [r for r in project.api.requests if r.path == "/studies"]
    found = expected_ids(project)
    every = set().union(*found.values())
    assert len(every) >= 6, "the fixture world should give each search something to find"
    assert result.stdout.startswith(f"sync full: {len(every)} studies seen, {len(every)} new, 0 changed")

    pages = sum(-(-len(ids) // 3) or 1 for ids in found.values())  # page_size 3 in the test config
    assert len(studies_requests) == pages
    assert all(r.params["pageSize"] == "3" and r.params["countTotal"] == "true" for r in studies_requests)
    first_pages = [r for r in studies_requests if "pageToken" not in r.params]
    assert len(first_pages) == len(found)
    # every page of a search repeats the search's own parameters exactly
    for search in DEFAULT_SEARCHES:
        mine = [r for r in studies_requests if all(r.params.get(k) == v for k, v in search.params.items())]
        assert len(mine) == max(1, -(-len(found[search.name]) // 3))

    engine = project.engine()
    with engine.connect() as conn:
        stored = set(conn.execute(select(Study.c.nct_id)).scalars())
        matches = {(r.nct_id, r.search_name) for r in conn.execute(select(StudySearch))}
        run = conn.execute(select(SyncRun)).one()
    assert stored == every
    assert matches == {(i, name) for name, ids in found.items() for i in ids}
    assert run.status == "succeeded" and run.mode == "full"
    assert run.data_timestamp == project.api.data_timestamp and run.api_version
    assert run.search_counts == {name: {"total": len(ids), "seen": len(ids)} for name, ids in found.items()}
    assert run.requests == len(studies_requests) + 1  # + /version


def test_status_reports_runs_counts_and_data_timestamp(project: Project) -> None:
    project.cli("sync")
    out = project.cli("status").stdout
    assert f"data timestamp: {project.api.data_timestamp}" in out
    assert "whim (WHIM syndrome):" in out and "RECRUITING" in out
    assert "full succeeded" in out and "Last syncs:" in out


def test_unchanged_resync_writes_no_version_and_changed_record_exactly_one(project: Project) -> None:
    project.cli("sync")
    engine = project.engine()
    before = snapshot(engine)
    again = project.cli("sync", "--full")
    assert ", 0 new, 0 changed," in again.stdout
    after = snapshot(engine)
    assert after["study_versions"] == before["study_versions"]

    target = project.api.nct_ids[0]
    project.api.update(target, set_status("SUSPENDED"))
    changed = project.cli("sync", "--full")
    assert ", 0 new, 1 changed," in changed.stdout
    rows = versions_of(engine, target)
    assert len(rows) == 2
    assert json.loads(rows[-1].raw_json)["protocolSection"]["statusModule"]["overallStatus"] == "SUSPENDED"
    with engine.connect() as conn:
        table = Study
        assert conn.execute(select(table.c.overall_status).where(table.c.nct_id == target)).scalar() == "SUSPENDED"


def test_data_version_stamp_alone_is_not_a_change(project: Project) -> None:
    project.cli("sync")
    target = project.api.nct_ids[0]

    record = project.api.get(target)
    record.setdefault("derivedSection", {}).setdefault("miscInfoModule", {})["versionHolder"] = "2026-11-23"
    project.api.put(record)  # put() changes nothing else (update() would bump lastUpdatePostDate)
    project.cli("sync", "--full")
    assert len(versions_of(project.engine(), target)) == 1


def test_incremental_sync_sends_the_date_window_and_picks_up_a_change(project: Project) -> None:
    project.cli("sync")
    engine = project.engine()
    with engine.connect() as conn:
        newest = max(filter(None, conn.execute(select(Study.c.last_update_posted)).scalars()))
    target = project.api.nct_ids[-1]
    project.api.today = "2026-11-22"
    project.api.update(target, set_status("RECRUITING"))
    project.api.clear_log()

    result = project.cli("sync")
    assert result.stdout.startswith("sync incremental:")
    assert ", 1 changed," in result.stdout
    import datetime as dt

    since = (dt.date.fromisoformat(newest) - dt.timedelta(days=1)).isoformat()
    windows = {r.params.get("filter.advanced") for r in project.api.requests if r.path == "/studies"}
    assert windows == {f"AREA[LastUpdatePostDate]RANGE[{since},MAX]"}
    assert len(versions_of(engine, target)) == 2


def test_full_reconcile_marks_removed_studies_with_the_reason(project: Project) -> None:
    allow_removals(project, 0.5)  # 2 of a search's 8 studies go: past the default sanity gate
    project.cli("sync")
    gone, merged, survivor = project.api.nct_ids[:3]
    project.api.remove(gone)
    record = project.api.get(merged)
    project.api.remove(merged)
    record["protocolSection"]["identificationModule"]["nctId"] = "NCT09999999"
    project.api.put(record)
    project.api.add_alias(merged, "NCT09999999")

    result = project.cli("sync", "--full")
    assert ", 2 removed;" in result.stdout and ", 1 new," in result.stdout
    with project.engine().connect() as conn:
        table = Study
        rows = {r.nct_id: r for r in conn.execute(select(table))}
    assert rows[gone].removed_at is not None and rows[gone].removed_reason == "no longer on ClinicalTrials.gov"
    assert rows[merged].removed_reason == "now listed as NCT09999999"  # the 301 was followed
    assert rows[survivor].removed_at is None
    assert any(r.path == f"/studies/{merged}" and r.status == 301 for r in project.api.requests)

    project.api.put(record | {})  # still there
    back = project.api.get("NCT09999999")
    back["protocolSection"]["identificationModule"]["nctId"] = gone
    project.api.put(back)
    again = project.cli("sync", "--full")
    assert "0 removed" in again.stdout
    with project.engine().connect() as conn:
        table = Study
        assert conn.execute(select(table.c.removed_at).where(table.c.nct_id == gone)).scalar() is None


def allow_removals(project: Project, share: float) -> None:
    with project.config_path.open("a", encoding="utf-8") as out:
        out.write(f"\n[sync]\nmax_removed_share = {share}\n")


def test_incremental_sync_never_marks_removals(project: Project) -> None:
    project.cli("sync")
    project.api.remove(project.api.nct_ids[0])
    assert "0 removed" in project.cli("sync").stdout


def test_failed_sync_leaves_the_database_exactly_as_before(project: Project) -> None:
    project.cli("sync")
    engine = project.engine()
    before = snapshot(engine)
    for nct_id in project.api.nct_ids[:4]:
        project.api.update(nct_id, set_status("TERMINATED"))

    # After the first search's pages are written, the API goes down for good.
    client = ApiClient(project.config.api)
    seen = {"pages": 0}

    def break_after_first_page(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        if response.url.split("?")[0].endswith("/studies"):
            seen["pages"] += 1
            if seen["pages"] == 1:
                project.api.fail_next("503", times=100)

    client.session.hooks["response"].append(break_after_first_page)
    with pytest.raises(SyncFailed, match="HTTP 503"):
        run_sync(project.config, engine, full=True, client=client)
    assert snapshot(engine) == before
    with engine.connect() as conn:
        runs = list(conn.execute(select(SyncRun).order_by(SyncRun.c.id)))
    assert [r.status for r in runs] == ["succeeded", "failed"]
    assert "HTTP 503" in runs[-1].error


def test_a_record_with_a_malformed_nct_id_is_logged_and_skipped(
    project: Project, caplog: pytest.LogCaptureFixture
) -> None:
    """An id names files (study/<id>.html) and orders exports: anything but NCT + 8 digits is never stored.
    (The fake API refuses to serve such a record, so the page the client got is handed in directly.)"""
    good = project.api.get(project.api.nct_ids[0])
    evil = copy.deepcopy(good)
    evil["protocolSection"]["identificationModule"]["nctId"] = "../../evil"
    kept = _candidates([evil, good], "whim")
    assert [c.nct_id for c in kept] == [project.api.nct_ids[0]]
    assert "skipped a record that cannot be stored: study record with a malformed NCT id '../../evil'" in caplog.text


def test_a_run_pauses_automatic_gc_and_restores_it_however_it_ends(project: Project) -> None:
    engine = project.engine()
    seen: list[bool] = []

    def note_gc(conn: Any, run_id: int, changes: Any) -> None:
        seen.append(gc.isenabled())

    assert gc.isenabled()
    run_sync(project.config, engine, full=True, handlers=(*DEFAULT_HANDLERS, note_gc))
    assert seen and not any(seen)  # paused while pages were written
    assert gc.isenabled()
    project.api.fail_next("503", times=100)
    with pytest.raises(SyncFailed):
        run_sync(project.config, engine, full=True)
    assert gc.isenabled()
    gc.disable()
    try:  # a caller that keeps gc off finds it off afterwards
        project.api.clear_faults()
        run_sync(project.config, engine, full=True)
        assert not gc.isenabled()
    finally:
        gc.enable()
