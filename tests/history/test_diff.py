"""The pure diff: identity matching of lists, what goes to which kind, and the sentences events read as."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.ingest.test_normalize import REAL
from tests.worldgen import load_fixture_studies, make_study
from trialfinder.history.diff import Event, diff
from trialfinder.wording import EVENT_KINDS, describe_event, field_words

LOCS = "protocolSection.contactsLocationsModule.locations"


def fixture(nct_id: str) -> dict[str, Any]:
    return next(s for s in load_fixture_studies() if s["protocolSection"]["identificationModule"]["nctId"] == nct_id)


def test_identical_new_and_removed() -> None:
    study = fixture("NCT06056297")
    assert diff(study, copy.deepcopy(study)) == []
    assert diff(None, study) == [Event("new_study", new="RECRUITING")]
    assert diff(study, None) == [Event("removed")]
    assert diff(None, None) == []


def test_interventions_are_matched_by_type_and_name_not_position() -> None:
    old = make_study(4)
    arms = old["protocolSection"]["armsInterventionsModule"]
    arms["interventions"].append({"type": "DRUG", "name": "Placebo", "description": "Matching capsules."})
    new = copy.deepcopy(old)
    new["protocolSection"]["armsInterventionsModule"]["interventions"].reverse()
    assert diff(old, new) == []
    new["protocolSection"]["armsInterventionsModule"]["interventions"][0]["description"] = "Matching tablets."
    assert diff(old, new) == [Event(
        "other_changed", new="protocolSection.armsInterventionsModule.interventions[DRUG: Placebo].description")]


def test_sites_with_the_same_facility_name_are_told_apart_by_city_then_zip() -> None:
    old = fixture("NCT03995108")  # four "Research Site"s in different cities
    new = copy.deepcopy(old)
    locations = new["protocolSection"]["contactsLocationsModule"]["locations"]
    locations.reverse()
    paris = next(loc for loc in locations if loc["city"] == "Paris")
    paris["status"] = "RECRUITING"
    twin = {**paris, "zip": "75019", "status": "NOT_YET_RECRUITING"}
    locations.insert(0, twin)
    assert diff(old, new) == [
        Event("site_added", f"{LOCS}[Research Site, Paris, France]", None, "Research Site, Paris, France"),
        Event("site_status_changed", f"{LOCS}[Research Site, Paris, France]", "Research Site, Paris, France: ",
              "Research Site, Paris, France: RECRUITING"),
    ]  # fmt: skip
    # once both are stored, the zip tells which of the twins changed, whatever the order
    again = copy.deepcopy(new)
    twins = [loc for loc in again["protocolSection"]["contactsLocationsModule"]["locations"] if loc["city"] == "Paris"]
    next(loc for loc in twins if loc["zip"] == "75019")["status"] = "RECRUITING"
    again["protocolSection"]["contactsLocationsModule"]["locations"].reverse()
    assert [e.kind for e in diff(new, again)] == ["site_status_changed"]
    assert diff(new, again)[0].old == "Research Site, Paris, France: NOT_YET_RECRUITING"


def test_site_details_contacts_and_spelling() -> None:
    old = fixture("NCT06056297")
    new = copy.deepcopy(old)
    seattle = new["protocolSection"]["contactsLocationsModule"]["locations"][0]
    seattle["contacts"].reverse()
    assert diff(old, new) == []
    seattle["contacts"] = [{"name": "New Coordinator", "role": "CONTACT", "email": "new@example.org"}]
    seattle["geoPoint"] = {"lat": 47.6, "lon": -122.3}
    label = "Investigational Site, Seattle, United States"
    assert diff(old, new) == [
        Event("contact_changed", f"{LOCS}[{label}].contacts",
              diff(old, new)[0].old, "New Coordinator, new@example.org"),
        Event("other_changed", new=f"{LOCS}[{label}].geoPoint"),
    ]  # fmt: skip
    assert describe_event(*_args(diff(old, new)[0])) == f"Contact details changed at {label}"
    assert describe_event(*_args(diff(old, new)[1])) == f"Other details changed: Geo point ({label})"


def test_several_changes_at_once_in_importance_order_and_bookkeeping_dates_absorbed() -> None:
    old = make_study(10)
    assert old["protocolSection"]["eligibilityModule"]["sex"] == "ALL"
    new = copy.deepcopy(old)
    status = new["protocolSection"]["statusModule"]
    status["overallStatus"] = "SUSPENDED"
    status["whyStopped"] = "Drug supply"
    status["lastUpdatePostDateStruct"]["date"] = "2026-11-20"
    status["statusVerifiedDate"] = "2026-11"
    status["completionDateStruct"] = {"date": "2028-01", "type": "ESTIMATED"}
    new["protocolSection"]["eligibilityModule"]["sex"] = "FEMALE"
    new["derivedSection"]["conditionBrowseModule"]["meshes"].append({"id": "D000001", "term": "Synthetic"})
    events = diff(old, new)
    assert [e.kind for e in events] == ["status_changed", "dates_changed", "eligibility_changed", "other_changed"]
    assert events[2].old == "All sexes" and events[2].new == "Female only"
    assert events[3].new == "derivedSection.conditionBrowseModule\nprotocolSection.statusModule.whyStopped"
    assert describe_event(*_args(events[3])) == "Other details changed: Index terms (condition browse), Reason stopped"


def test_results_updated_later_are_other_details() -> None:
    old = fixture("NCT03995108")
    assert old["hasResults"]
    new = copy.deepcopy(old)
    module = next(iter(new["resultsSection"]))
    new["resultsSection"][module] = {"changed": True}
    assert diff(old, new) == [Event("other_changed", new=f"resultsSection.{module}")]


@pytest.mark.parametrize(
    ("event", "sentence"),
    [
        (Event("new_study", new="NOT_YET_RECRUITING"), "New study listed (not yet recruiting)"),
        (Event("removed", new="now listed as NCT01234567"), "No longer listed (now listed as NCT01234567)"),
        (Event("reappeared"), "Listed again"),
        (Event("status_changed", "x.overallStatus", "NOT_YET_RECRUITING", "RECRUITING"),
         "Now recruiting (was: not yet recruiting)"),
        (Event("status_changed", "x.overallStatus", "RECRUITING", "ACTIVE_NOT_RECRUITING"),
         "Recruitment closed (was: recruiting)"),
        (Event("status_changed", "x.overallStatus", "RECRUITING", "WITHDRAWN"),
         "Withdrawn (stopped before enrolling anyone) (was: recruiting)"),
        (Event("status_changed", "x.overallStatus", "RECRUITING", "TERMINATED"),
         "Terminated (stopped early) (was: recruiting)"),
        (Event("status_changed", "x.overallStatus", "ACTIVE_NOT_RECRUITING", "COMPLETED"),
         "Completed (was: running, not recruiting)"),
        (Event("status_changed", "x.overallStatus", "RECRUITING", "SUSPENDED"), "Suspended (paused) (was: recruiting)"),
        (Event("status_changed", "x.overallStatus", "RECRUITING", "WITHHELD"), "Status: recruiting → withheld"),
        (Event("results_posted", "hasResults", None, "2026-11-18"), "Results posted (2026-11-18)"),
        (Event("site_added", f"{LOCS}[A, B, C]", None, "A, B, C"), "New site: A, B, C"),
        (Event("site_removed", f"{LOCS}[A, B, C]", "A, B, C", None), "Site removed: A, B, C"),
        (Event("site_status_changed", f"{LOCS}[A: x, B, C]", "A: x, B, C: ", "A: x, B, C: RECRUITING"),
         "Site A: x, B, C: not given → recruiting"),
        (Event("contact_changed", "p.contactsLocationsModule.overallOfficials", "Dr A", "Dr B"),
         "Responsible investigators changed"),
        (Event("dates_changed", "p.statusModule.startDateStruct", "2026-01 (estimated)", "2026-02 (actual)"),
         "Start date: 2026-01 (estimated) → 2026-02 (actual)"),
        (Event("enrollment_changed", "p.designModule.enrollmentInfo", None, "30 (actual)"),
         "Number of participants: not given → 30 (actual)"),
        (Event("phase_changed", "p.designModule.phases", "Phase 2", "Phase 3"), "Phase: Phase 2 → Phase 3"),
        (Event("eligibility_changed", "p.eligibilityModule.maximumAge", "65 Years", None),
         "Who can join (maximum age): 65 Years → not given"),
        (Event("eligibility_changed", "p.eligibilityModule.eligibilityCriteria", "a", "b"),
         "Eligibility criteria text changed"),
        (Event("title_changed", "p.identificationModule.officialTitle", "a", "b"), "Official title changed to: b"),
        (Event("other_changed", new="p.armsInterventionsModule.interventions[DRUG: Dr. X].otherNames"),
         "Other details changed: Other names (DRUG: Dr. X)"),
    ],
)  # fmt: skip
def test_sentences(event: Event, sentence: str) -> None:
    assert event.sentence() == sentence


def test_every_kind_has_a_sentence_and_unknown_paths_read_as_words() -> None:
    for kind in EVENT_KINDS:
        assert describe_event(kind, None, None, None)
    assert field_words("protocolSection.oversightModule.isFdaRegulatedDrug") == "Is fda regulated drug"
    assert field_words("resultsSection.outcomeMeasuresModule") == "Results (outcome measures)"
    assert field_words(None) == "Details"


def _args(event: Event) -> tuple[str, str | None, str | None, str | None]:
    return event.kind, event.field_path, event.old, event.new


@pytest.mark.skipif(not REAL, reason="no recorded API responses in ../shared/ctgov")
@pytest.mark.parametrize("record", REAL)
def test_real_records_reordered_everywhere_with_one_status_flip(record: dict[str, Any]) -> None:
    assert diff(record, copy.deepcopy(record)) == []
    new = _reversed_lists(record)
    status = new["protocolSection"].setdefault("statusModule", {})
    before = status.get("overallStatus")
    status["overallStatus"] = "WITHDRAWN" if before != "WITHDRAWN" else "RECRUITING"
    assert [e.kind for e in diff(record, new)] == ["status_changed"]


def _reversed_lists(value: Any) -> Any:
    """A copy with every list, at every depth, in reverse order."""
    if isinstance(value, dict):
        return {key: _reversed_lists(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_reversed_lists(item) for item in reversed(value)]
    return value


def test_a_study_gaining_its_first_sites_and_a_module() -> None:
    old = fixture("NCT00967785")
    del old["protocolSection"]["contactsLocationsModule"]
    del old["protocolSection"]["oversightModule"]
    new = fixture("NCT00967785")
    assert diff(old, new) == [
        Event("site_added", f"{LOCS}[National Institutes of Health Clinical Center, Bethesda, United States]", None,
              "National Institutes of Health Clinical Center, Bethesda, United States"),
        Event("contact_changed", "protocolSection.contactsLocationsModule.overallOfficials", None,
              "Synthetic Investigator A, M.D., National Institute of Allergy and Infectious Diseases (NIAID)"),
        Event("other_changed", new="protocolSection.oversightModule.isFdaRegulatedDevice\n"
              "protocolSection.oversightModule.isFdaRegulatedDrug\nprotocolSection.oversightModule.oversightHasDmc"),
    ]  # fmt: skip
