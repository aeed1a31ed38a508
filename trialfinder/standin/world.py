"""The stand-in's world (NOT real registry data): our own synthetic WHIM/CXCR4 studies from ``whim_world.json``
and the scripted second day of changes `trialfinder demo` applies between its two runs."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from importlib import resources
from typing import Any

from trialfinder.standin.server import FakeCtGov

FIXTURE_NAME = "whim_world.json"


@functools.lru_cache(maxsize=1)
def _fixture_text() -> str:
    return resources.files("trialfinder.standin").joinpath(FIXTURE_NAME).read_text(encoding="utf-8")


def load_fixture_studies() -> list[dict[str, Any]]:
    """The synthetic studies of whim_world.json (fresh objects on every call)."""
    studies: list[dict[str, Any]] = json.loads(_fixture_text())["studies"]
    return studies


def _locations(study: dict[str, Any]) -> list[dict[str, Any]]:
    module = study["protocolSection"].setdefault("contactsLocationsModule", {})
    found: list[dict[str, Any]] = module.setdefault("locations", [])
    return found


def _now_recruiting(study: dict[str, Any], today: str) -> None:
    """NCT09990001: recruitment opens, its first site with it, and a second site opens in Paris."""
    status = study["protocolSection"]["statusModule"]
    status["overallStatus"] = "RECRUITING"
    status["statusVerifiedDate"] = today[:7]
    status["startDateStruct"] = {"date": today, "type": "ACTUAL"}
    for site in _locations(study):
        site["status"] = "RECRUITING"
    _locations(study).append({
        "facility": "Example Children's Hospital", "status": "RECRUITING", "city": "Paris",
        "zip": "75015", "country": "France",
        "contacts": [{"name": "Study Coordinator", "role": "CONTACT", "email": "paris-site@example.org"}],
        "geoPoint": {"lat": 48.85341, "lon": 2.3488},
    })  # fmt: skip


def _results_posted(study: dict[str, Any], today: str) -> None:
    """NCT04154488: the study completes and its results are posted."""
    status = study["protocolSection"]["statusModule"]
    status["overallStatus"] = "COMPLETED"
    status["primaryCompletionDateStruct"] = {"date": "2025-06-30", "type": "ACTUAL"}
    status["completionDateStruct"] = {"date": "2025-12-19", "type": "ACTUAL"}
    status["resultsFirstPostDateStruct"] = {"date": today, "type": "ACTUAL"}
    for site in _locations(study):
        site["status"] = "COMPLETED"
    study["hasResults"] = True
    study["resultsSection"] = {"participantFlowModule": {
        "groups": [{"id": "FG000", "title": "Mavorixafor", "description": "Oral mavorixafor once daily"}],
        "periods": [{"title": "Overall Study", "milestones": [
            {"type": "STARTED", "achievements": [{"groupId": "FG000", "numSubjects": "19"}]},
            {"type": "COMPLETED", "achievements": [{"groupId": "FG000", "numSubjects": "17"}]}]}],
    }}  # fmt: skip


def _site_opens(study: dict[str, Any], today: str) -> None:
    """NCT06056297: a new site opens in Germany and the planned enrollment grows."""
    _locations(study).append({
        "facility": "Example University Hospital", "status": "RECRUITING", "city": "Freiburg",
        "zip": "79106", "country": "Germany",
        "contacts": [{"name": "Study Coordinator 7", "role": "CONTACT", "email": "site7@example.org"}],
        "geoPoint": {"lat": 47.9959, "lon": 7.85222},
    })  # fmt: skip
    design = study["protocolSection"].setdefault("designModule", {})
    design["enrollmentInfo"] = {"count": 180, "type": "ESTIMATED"}


def _apply(change: Callable[[dict[str, Any], str], None], today: str, study: dict[str, Any]) -> None:
    change(study, today)


Change = Callable[[dict[str, Any], str], None]
DAY_TWO: tuple[tuple[str, Change], ...] = (
    ("NCT09990001", _now_recruiting), ("NCT04154488", _results_posted), ("NCT06056297", _site_opens))


def apply_day_two(fake: FakeCtGov, today: str, data_timestamp: str) -> list[str]:
    """Apply the second day's changes to the stand-in (each study's last update posted `today`); their NCT ids."""
    fake.today = today
    fake.data_timestamp = data_timestamp
    for nct_id, change in DAY_TWO:
        fake.update(nct_id, functools.partial(_apply, change, today))
    return [nct_id for nct_id, _ in DAY_TWO]
