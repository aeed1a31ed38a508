"""The "done when" world change shared by the digest and feed tests: sync the fixture world, then a status flip, a
new site, a new study, a removed study and results posted, and sync again."""

from __future__ import annotations

from typing import Any

from tests.conftest import Project

LOCS = "protocolSection.contactsLocationsModule.locations"
NEW_STUDY = "NCT09990077"
# (nct_id, kind, field_path, old, new): exactly what the second sync must record
EXPECTED = [
    ("NCT09990001", "status_changed", "protocolSection.statusModule.overallStatus", "NOT_YET_RECRUITING",
     "RECRUITING"),
    ("NCT04154488", "results_posted", "hasResults", None, "2026-11-18"),
    ("NCT06056297", "site_added", f"{LOCS}[Hôpital Necker, Paris, France]", None, "Hôpital Necker, Paris, France"),
    (NEW_STUDY, "new_study", None, None, "NOT_YET_RECRUITING"),
    ("NCT03547830", "removed", None, None, "no longer on ClinicalTrials.gov"),
]  # fmt: skip
# the same, as the digest and feeds word them
SENTENCES = {
    "NCT09990001": "Now recruiting (was: not yet recruiting)",
    "NCT04154488": "Results posted (2026-11-18)",
    "NCT06056297": "New site: Hôpital Necker, Paris, France",
    NEW_STUDY: "New study listed (not yet recruiting)",
    "NCT03547830": "No longer listed (no longer on ClinicalTrials.gov)",
}


def change_world(project: Project) -> None:
    """Apply the five changes to the fake API's world."""
    api = project.api

    def recruit(record: dict[str, Any]) -> None:
        record["protocolSection"]["statusModule"]["overallStatus"] = "RECRUITING"

    def add_site(record: dict[str, Any]) -> None:
        record["protocolSection"]["contactsLocationsModule"]["locations"].append(
            {"facility": "Hôpital Necker", "city": "Paris", "zip": "75015", "country": "France",
             "status": "NOT_YET_RECRUITING"})  # fmt: skip

    def post_results(record: dict[str, Any]) -> None:
        record["hasResults"] = True
        record["resultsSection"] = {"participantFlowModule": {"recruitmentDetails": "Synthetic results."}}
        record["protocolSection"]["statusModule"]["resultsFirstPostDateStruct"] = {"date": "2026-11-18",
                                                                                  "type": "ACTUAL"}  # fmt: skip

    api.update("NCT09990001", recruit)
    api.update("NCT06056297", add_site)
    api.update("NCT04154488", post_results)
    study = api.get("NCT09990001")
    study["protocolSection"]["identificationModule"]["nctId"] = NEW_STUDY
    study["protocolSection"]["identificationModule"]["briefTitle"] = "A Synthetic Registry of WHIM Syndrome"
    study["protocolSection"]["statusModule"]["overallStatus"] = "NOT_YET_RECRUITING"
    api.put(study)
    api.remove("NCT03547830")


def run_scenario(project: Project, *others: Project) -> None:
    """Sync, change the world, full sync; `others` (projects on the same fake API) sync in step."""
    for each in (project, *others):
        each.cli("sync")
    change_world(project)
    for each in (project, *others):
        each.cli("sync", "--full")
