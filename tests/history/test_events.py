"""Change events from real syncs against the fake ClinicalTrials.gov API: each kind of world change gives exactly its
event, reorders and identical re-syncs give none, and events live and die with the sync transaction."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import requests
from sqlalchemy import Column, MetaData, String, Table, create_engine, insert, select

from tests.conftest import Project
from trialfinder.history.events import country_matches
from trialfinder.ingest.client import ApiClient
from trialfinder.ingest.sync import SyncFailed
from trialfinder.models import ChangeEvent, StudyVersion, SyncRun
from trialfinder.run.sync import run_sync

TARGET = "NCT06056297"  # recruiting, six sites, central contacts
LOCS = "protocolSection.contactsLocationsModule.locations"
Mutation = Callable[[dict[str, Any]], None]


def stored_events(project: Project, run: int | None = None) -> list[tuple[Any, ...]]:
    """(nct_id, kind, field_path, old, new) of the newest run's events (or of run `run`), in id order."""
    table, runs = ChangeEvent, SyncRun
    with project.engine().connect() as conn:
        run_id = run or conn.execute(select(runs.c.id).order_by(runs.c.id.desc()).limit(1)).scalar_one()
        rows = conn.execute(select(table).where(table.c.run_id == run_id).order_by(table.c.id))
        return [(r.nct_id, r.kind, r.field_path, r.old_value, r.new_value) for r in rows]


def protocol(record: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = record["protocolSection"]
    return result


def sites(record: dict[str, Any]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = protocol(record)["contactsLocationsModule"]["locations"]
    return result


def set_status(record: dict[str, Any]) -> None:
    protocol(record)["statusModule"]["overallStatus"] = "ACTIVE_NOT_RECRUITING"


def add_site(record: dict[str, Any]) -> None:
    sites(record).append({"facility": "Hôpital Necker", "city": "Paris", "zip": "75015", "country": "France",
                          "status": "NOT_YET_RECRUITING"})  # fmt: skip


def drop_site(record: dict[str, Any]) -> None:
    sites(record).pop(2)  # Melbourne


def site_recruits(record: dict[str, Any]) -> None:
    sites(record)[3]["status"] = "RECRUITING"  # Freiburg


def new_contact(record: dict[str, Any]) -> None:
    protocol(record)["contactsLocationsModule"]["centralContacts"] = [
        {"name": "Trial Information Desk", "role": "CONTACT", "phone": "+1 555 0100", "email": "desk@example.org"}
    ]


def enrollment(record: dict[str, Any]) -> None:
    protocol(record)["designModule"]["enrollmentInfo"]["count"] = 80


def completion_actual(record: dict[str, Any]) -> None:
    protocol(record)["statusModule"]["primaryCompletionDateStruct"] = {"date": "2026-10", "type": "ACTUAL"}


def phase(record: dict[str, Any]) -> None:
    protocol(record)["designModule"]["phases"] = ["PHASE2", "PHASE3"]


def younger(record: dict[str, Any]) -> None:
    protocol(record)["eligibilityModule"]["minimumAge"] = "6 Years"


def results(record: dict[str, Any]) -> None:
    record["hasResults"] = True
    record["resultsSection"] = {"participantFlowModule": {"recruitmentDetails": "Synthetic results."}}
    status = protocol(record)["statusModule"]
    status["resultsFirstSubmitDate"] = "2026-11-10"
    status["resultsFirstPostDateStruct"] = {"date": "2026-11-18", "type": "ACTUAL"}


def retitle(record: dict[str, Any]) -> None:
    protocol(record)["identificationModule"]["briefTitle"] = "Mavorixafor in Chronic Neutropenia (4WARD)"


def describe(record: dict[str, Any]) -> None:
    protocol(record)["descriptionModule"]["detailedDescription"] = "A new synthetic description."


def reorder(record: dict[str, Any]) -> None:
    sites(record).reverse()
    for site in sites(record):
        if site.get("contacts"):
            site["contacts"].reverse()
    protocol(record)["conditionsModule"]["conditions"].reverse()
    protocol(record)["conditionsModule"]["keywords"].reverse()
    for section in ("statusModule", "designModule"):  # key order is no change either
        protocol(record)[section] = dict(reversed(list(protocol(record)[section].items())))


def new_record(project: Project, source: str, nct_id: str) -> dict[str, Any]:
    record = project.api.get(source)
    protocol(record)["identificationModule"]["nctId"] = nct_id
    protocol(record)["statusModule"]["lastUpdatePostDateStruct"] = {"date": project.api.today, "type": "ACTUAL"}
    return record


SITE_LABEL = {
    "Freiburg": "Investigational Site, Freiburg, Germany",
    "Melbourne": "Investigational Site, Melbourne, Australia",
}


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (set_status, [("status_changed", "protocolSection.statusModule.overallStatus", "RECRUITING",
                       "ACTIVE_NOT_RECRUITING")]),
        (add_site, [("site_added", f"{LOCS}[Hôpital Necker, Paris, France]", None, "Hôpital Necker, Paris, France")]),
        (drop_site, [("site_removed", f"{LOCS}[{SITE_LABEL['Melbourne']}]", SITE_LABEL["Melbourne"], None)]),
        (site_recruits, [("site_status_changed", f"{LOCS}[{SITE_LABEL['Freiburg']}]",
                          f"{SITE_LABEL['Freiburg']}: NOT_YET_RECRUITING", f"{SITE_LABEL['Freiburg']}: RECRUITING")]),
        (new_contact, [("contact_changed", "protocolSection.contactsLocationsModule.centralContacts", None,
                        "Trial Information Desk, +1 555 0100, desk@example.org")]),
        (enrollment, [("enrollment_changed", "protocolSection.designModule.enrollmentInfo", "150 (estimated)",
                       "80 (estimated)")]),
        (completion_actual, [("dates_changed", "protocolSection.statusModule.primaryCompletionDateStruct",
                              "2027-06 (estimated)", "2026-10 (actual)")]),
        (phase, [("phase_changed", "protocolSection.designModule.phases", "Phase 3", "Phase 2 / Phase 3")]),
        (younger, [("eligibility_changed", "protocolSection.eligibilityModule.minimumAge", "12 Years", "6 Years")]),
        (results, [("results_posted", "hasResults", None, "2026-11-18")]),
        (retitle, [("title_changed", "protocolSection.identificationModule.briefTitle", None,
                    "Mavorixafor in Chronic Neutropenia (4WARD)")]),
        (describe, [("other_changed", None, None, "protocolSection.descriptionModule.detailedDescription")]),
    ],
    ids=lambda value: value.__name__ if callable(value) else "",
)  # fmt: skip
def test_each_world_change_gives_exactly_its_event(project: Project, mutate: Mutation, expected: list[Any]) -> None:
    project.cli("sync")
    before = project.api.get(TARGET)
    project.api.update(TARGET, mutate)
    project.cli("sync")  # incremental, no flag: events are always recorded
    got = [event[1:] for event in stored_events(project)]
    if mutate is retitle:  # the old title is whatever the fixture says
        expected = [(*expected[0][:2], protocol(before)["identificationModule"]["briefTitle"], expected[0][3])]
    if mutate is new_contact:
        old = protocol(before)["contactsLocationsModule"].get("centralContacts")
        assert old, "the fixture study has central contacts to replace"
        assert got[0][2] and got[0][2] != expected[0][3]
        expected = [(*expected[0][:2], got[0][2], expected[0][3])]
    assert got == expected
    assert {event[0] for event in stored_events(project)} == {TARGET}


def test_new_removed_and_reappeared_studies(project: Project) -> None:
    project.cli("sync")
    first_run = stored_events(project)
    assert sorted(e[0] for e in first_run) == project.api.nct_ids
    assert {e[1] for e in first_run} == {"new_study"}
    assert (TARGET, "new_study", None, None, "RECRUITING") in first_run

    project.api.put(new_record(project, TARGET, "NCT09990077"))
    project.cli("sync")
    assert stored_events(project) == [("NCT09990077", "new_study", None, None, "RECRUITING")]

    gone = project.api.get(TARGET)
    project.api.remove(TARGET)
    project.cli("sync", "--full")
    assert stored_events(project) == [(TARGET, "removed", None, None, "no longer on ClinicalTrials.gov")]

    project.api.put(gone)
    project.cli("sync", "--full")
    assert stored_events(project) == [(TARGET, "reappeared", None, None, None)]


def test_reordered_lists_and_identical_resyncs_give_no_events(project: Project) -> None:
    project.cli("sync")
    project.cli("sync", "--full")
    assert stored_events(project) == []
    record = project.api.get(TARGET)
    reorder(record)
    project.api.put(record)  # a new version (the raw JSON differs) but nothing to tell anyone
    project.cli("sync", "--full")
    assert stored_events(project) == []
    versions = StudyVersion
    with project.engine().connect() as conn:
        assert len(conn.execute(select(versions.c.id).where(versions.c.nct_id == TARGET)).all()) == 2


def test_ignored_version_stamp_and_bookkeeping_dates(project: Project) -> None:
    project.cli("sync")
    record = project.api.get(TARGET)
    record["derivedSection"]["miscInfoModule"]["versionHolder"] = "2026-11-23"
    project.api.put(record)
    project.cli("sync", "--full")
    assert stored_events(project) == []
    project.api.update(TARGET, lambda record: None)  # only the last-update date moves: not lost, not noisy
    project.cli("sync")
    assert stored_events(project) == [
        (TARGET, "other_changed", None, None, "protocolSection.statusModule.lastUpdatePostDateStruct")
    ]


def test_events_point_at_the_version_and_update_date_they_came_from(project: Project) -> None:
    project.cli("sync")
    project.api.update(TARGET, set_status)
    project.cli("sync")
    events, versions = ChangeEvent, StudyVersion
    with project.engine().connect() as conn:
        row = conn.execute(select(events).where(events.c.kind == "status_changed")).one()
        version = conn.execute(select(versions).where(versions.c.id == row.version_id)).one()
        run = conn.execute(select(SyncRun).where(SyncRun.c.id == row.run_id)).one()
    assert version.nct_id == TARGET and version.run_id == row.run_id
    assert row.last_update_posted == version.last_update_posted == project.api.today
    assert row.detected_at == run.started_at


def test_a_failed_sync_records_no_events(project: Project) -> None:
    project.cli("sync")
    for nct_id in project.api.nct_ids:
        project.api.update(nct_id, set_status)
    client = ApiClient(project.config.api)

    def break_after_first_page(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        if response.url.split("?")[0].endswith("/studies"):
            project.api.fail_next("503", times=100)

    client.session.hooks["response"].append(break_after_first_page)
    with pytest.raises(SyncFailed):
        run_sync(project.config, project.engine(), client=client)
    with project.engine().connect() as conn:
        kinds = set(conn.execute(select(ChangeEvent.c.kind)).scalars())
    assert kinds == {"new_study"}


def test_change_on_a_removed_study_tells_it_is_back_and_what_changed(project: Project) -> None:
    project.cli("sync")
    gone = project.api.get(TARGET)
    project.api.remove(TARGET)
    project.cli("sync", "--full")
    back = copy.deepcopy(gone)
    set_status(back)
    project.api.put(back)
    project.cli("sync", "--full")
    assert [e[1] for e in stored_events(project)] == ["status_changed", "reappeared"]


def test_country_filter_matches_any_script_as_stored_and_ascii_names_in_any_case(database_url: str) -> None:
    table = Table("sites", MetaData(), Column("country", String))
    engine = create_engine(database_url)
    table.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(table), [{"country": c} for c in ("Åland Islands", "France", "Côte d'Ivoire", "Peru")])

        def picked(*wanted: str) -> list[str]:
            query = select(table.c.country).where(country_matches(table.c.country, wanted))
            return sorted(conn.execute(query).scalars())

        assert picked("Åland Islands", "Côte d'Ivoire") == ["Côte d'Ivoire", "Åland Islands"]
        assert picked("france", "PERU") == ["France", "Peru"]
        assert picked("Nowhere") == []
