"""Removals are proven by the API, never inferred: a data set that moves between pages, errors during the checks
and the sanity gate against losing a large share of a search at once."""

from __future__ import annotations

from typing import Any

import requests
from sqlalchemy import select

from tests.conftest import Project
from tests.ingest.test_sync import allow_removals, snapshot
from trialfinder.config import DEFAULT_SEARCHES
from trialfinder.models import ChangeEvent, Study, SyncRun


def first_page_ids(project: Project, search_name: str) -> list[str]:
    """The ids of each study of `search_name`, in the order the fake pages them."""
    search = next(s for s in DEFAULT_SEARCHES if s.name == search_name)
    body = requests.get(f"{project.api.base_url}/studies", params={**search.params, "pageSize": "1000"}, timeout=5)
    return [s["protocolSection"]["identificationModule"]["nctId"] for s in body.json()["studies"]]


def only_in(project: Project, search_name: str) -> set[str]:
    ids = {name: set(first_page_ids(project, name)) for name in ("whim", "mavorixafor", "cxcr4")}
    others = set().union(*(found for name, found in ids.items() if name != search_name))
    return ids[search_name] - others


def studies(project: Project) -> dict[str, Any]:
    with project.engine().connect() as conn:
        return {row.nct_id: row for row in conn.execute(select(Study))}


def event_kinds(project: Project) -> list[tuple[str, str]]:
    with project.engine().connect() as conn:
        table = ChangeEvent
        return [(r.kind, r.nct_id) for r in conn.execute(select(table.c.kind, table.c.nct_id).order_by(table.c.id))]


def test_a_study_sliding_across_a_page_boundary_is_kept_not_removed(project: Project) -> None:
    """Between page 1 and 2 of a search a study on page 1 is deleted: the first of page 2 moves onto page 1 and is
    never served. It is still there and still matches, so it is kept; only the deleted one is removed."""
    template = project.api.get(sorted(only_in(project, "cxcr4"))[-1])
    for number in (11, 12, 13):  # more studies only the cxcr4 search finds, so one starts a page
        template["protocolSection"]["identificationModule"]["nctId"] = f"NCT099900{number}"
        project.api.put(template)
    project.cli("sync")
    order = first_page_ids(project, "cxcr4")
    alone = only_in(project, "cxcr4")
    slid = next(nct for nct in order[3:] if nct in alone and order.index(nct) % 3 == 0)
    deleted = order[order.index(slid) - 1]
    pages_before = order.index(slid) // 3
    searches_before = [s.name for s in DEFAULT_SEARCHES].index("cxcr4")
    # A full sync asks for the pages search by search: the removal comes right after cxcr4's page `pages_before`.
    served = pages_before
    for search in DEFAULT_SEARCHES[:searches_before]:
        served += max(1, -(-len(first_page_ids(project, search.name)) // 3))
    project.api.after_page(served, lambda fake: fake.remove(deleted))

    result = project.cli("sync", "--full")
    assert ", 0 removed;" in result.stdout  # the deleted one was served before it went
    assert "1 studies missed by paging and kept (the API still has them)" in result.stdout
    assert studies(project)[slid].removed_at is None

    again = project.cli("sync", "--full")
    assert ", 1 removed;" in again.stdout and "missed by paging" not in again.stdout
    assert studies(project)[deleted].removed_reason == "no longer on ClinicalTrials.gov"
    assert ("reappeared", slid) not in event_kinds(project) and ("removed", slid) not in event_kinds(project)


def test_an_error_during_the_removal_check_changes_nothing_and_the_check_is_retried(project: Project) -> None:
    project.cli("sync")
    gone = sorted(only_in(project, "cxcr4"))[0]
    project.api.remove(gone)
    project.api.fail_next("503", times=50, path=f"/studies/{gone}")

    result = project.cli("sync", "--full")
    assert "0 removed" in result.stdout
    assert "1 removal checks failed (left as they were; checked again next run)" in result.stdout
    assert studies(project)[gone].removed_at is None
    assert "1 removal checks failed" in project.cli("status").stdout

    project.api.clear_faults()
    retried = project.cli("sync")  # incremental: the failed check is done again
    assert "incremental" in retried.stdout and ", 1 removed;" in retried.stdout
    assert studies(project)[gone].removed_reason == "no longer on ClinicalTrials.gov"
    assert event_kinds(project).count(("removed", gone)) == 1


def test_a_failed_restricted_search_leaves_the_study_for_the_next_run(project: Project) -> None:
    project.cli("sync")
    pages = sum(1 for r in project.api.requests if r.path == "/studies")
    gone = sorted(only_in(project, "cxcr4"))[0]
    project.api.remove(gone)
    project.api.after_page(pages - 1, lambda fake: fake.fail_next("reset", times=50))  # after the last page

    result = project.cli("sync", "--full")
    assert "0 removed" in result.stdout and "1 removal checks failed" in result.stdout
    assert studies(project)[gone].removed_at is None
    project.api.clear_faults()
    assert ", 1 removed;" in project.cli("sync", "--full").stdout


def test_a_study_no_search_finds_any_more_is_removed_as_not_matching(project: Project) -> None:
    project.cli("sync")
    target = sorted(only_in(project, "cxcr4"))[0]
    project.api.put({"protocolSection": {"identificationModule": {"nctId": target, "briefTitle": "Unrelated"}}})
    assert target not in set().union(*(first_page_ids(project, s.name) for s in DEFAULT_SEARCHES))
    assert ", 1 removed;" in project.cli("sync", "--full").stdout
    assert studies(project)[target].removed_reason == "no longer found by the searches"


def test_the_sanity_gate_stops_a_run_that_would_remove_too_much(project: Project) -> None:
    project.cli("sync")
    engine = project.engine()
    before = snapshot(engine)
    doomed = first_page_ids(project, "cxcr4")[:3]
    for nct_id in doomed:
        project.api.remove(nct_id)

    result = project.cli("sync", "--full", expect=1)
    assert "nothing was changed: search cxcr4 would lose 3 of its" in result.stderr
    assert "raise sync.max_removed_share for one run" in result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(engine) == before
    with engine.connect() as conn:
        assert conn.execute(select(SyncRun.c.status).order_by(SyncRun.c.id.desc())).first() == (
            "failed",)

    allow_removals(project, 1.0)
    assert ", 3 removed;" in project.cli("sync", "--full").stdout
