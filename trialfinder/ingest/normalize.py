"""Pure functions: one ClinicalTrials.gov API v2 study (a dict) -> a flat record, plus its hash (canonical.py).

Tolerant by design: a missing module or field gives None or an empty list, and an unknown enum value is kept as
given. Partial dates ("2008-11") are kept as given, with a sortable `datetime.date` beside them.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from dataclasses import dataclass
from typing import Any

# Re-exported: callers have always found the canonical text and hash here.
from trialfinder.ingest.canonical import (  # noqa: F401
    HASH_IGNORED_PATHS,
    HASH_SCHEME,
    canonical_json,
    canonical_json_and_hash,
    content_hash,
    fingerprint,
    get_path,
    loads_checked,
)

_AGE_UNITS_IN_YEARS = {
    "year": 1.0,
    "month": 1 / 12,
    "week": 7 / 365.25,
    "day": 1 / 365.25,
    "hour": 1 / (365.25 * 24),
    "minute": 1 / (365.25 * 24 * 60),
}


@dataclass(frozen=True)
class Normalized:
    """A study flattened for the database: `study` (the studies row), `locations`, raw text and hash."""

    nct_id: str
    record: dict[str, Any]
    study: dict[str, Any]
    locations: list[dict[str, Any]]
    raw_json: str
    content_hash: str


NCT_ID = re.compile(r"NCT\d{8}")  # the only shape ClinicalTrials.gov gives; ids name files and sort exports


def nct_id_of(record: dict[str, Any]) -> str:
    """The record's NCT id, or ValueError when the record has none or it is not NCT plus 8 digits."""
    nct_id = get_path(record, "protocolSection", "identificationModule", "nctId")
    if not isinstance(nct_id, str) or not nct_id:
        raise ValueError("study record without protocolSection.identificationModule.nctId")
    if not NCT_ID.fullmatch(nct_id):
        raise ValueError(f"study record with a malformed NCT id {nct_id[:40]!r}")
    return nct_id


def normalize(record: dict[str, Any], known_hash: str | None = None, known_raw_json: str | None = None) -> Normalized:
    """Flatten one API study record; never raises for missing or unexpected optional content.

    `known_hash` and `known_raw_json`, when the caller already has `content_hash(record)` and
    `canonical_json(record)` (e.g. from canonical_json_and_hash), save computing them again.
    """
    nct_id = nct_id_of(record)
    protocol = _dict(record.get("protocolSection"))
    ident = _dict(protocol.get("identificationModule"))
    status = _dict(protocol.get("statusModule"))
    design = _dict(protocol.get("designModule"))
    conditions = _dict(protocol.get("conditionsModule"))
    arms = _dict(protocol.get("armsInterventionsModule"))
    sponsor = _dict(_dict(protocol.get("sponsorCollaboratorsModule")).get("leadSponsor"))
    eligibility = _dict(protocol.get("eligibilityModule"))
    description = _dict(protocol.get("descriptionModule"))
    enrollment = _dict(design.get("enrollmentInfo"))

    study: dict[str, Any] = {
        "nct_id": nct_id,
        "brief_title": _text(ident.get("briefTitle")),
        "official_title": _text(ident.get("officialTitle")),
        "acronym": _text(ident.get("acronym")),
        "overall_status": _text(status.get("overallStatus")),
        "status_verified_date": _text(status.get("statusVerifiedDate")),
        "why_stopped": _text(status.get("whyStopped")),
        "study_type": _text(design.get("studyType")),
        "phases": _strings(design.get("phases")),
        "conditions": _strings(conditions.get("conditions")),
        "keywords": _strings(conditions.get("keywords")),
        "interventions": [
            {
                "type": _text(item.get("type")),
                "name": _text(item.get("name")),
                "other_names": _strings(item.get("otherNames")),
            }
            for item in _dicts(arms.get("interventions"))
        ],
        "sponsor": _text(sponsor.get("name")),
        "sponsor_class": _text(sponsor.get("class")),
        "first_posted": _date_of(status, "studyFirstPostDateStruct")[0],
        "results_first_posted": _date_of(status, "resultsFirstPostDateStruct")[0],
        "last_update_posted": _date_of(status, "lastUpdatePostDateStruct")[0],
        "enrollment": _int(enrollment.get("count")),
        "enrollment_type": _text(enrollment.get("type")),
        "sex": _text(eligibility.get("sex")),
        "min_age": _text(eligibility.get("minimumAge")),
        "min_age_years": age_in_years(eligibility.get("minimumAge")),
        "max_age": _text(eligibility.get("maximumAge")),
        "max_age_years": age_in_years(eligibility.get("maximumAge")),
        "std_ages": _strings(eligibility.get("stdAges")),
        "healthy_volunteers": _bool(eligibility.get("healthyVolunteers")),
        "has_results": bool(record.get("hasResults")) or "resultsSection" in record,
        "brief_summary": _text(description.get("briefSummary")),
        "eligibility_criteria": _text(eligibility.get("eligibilityCriteria")),
    }
    for column, struct in (
        ("start_date", "startDateStruct"),
        ("primary_completion_date", "primaryCompletionDateStruct"),
        ("completion_date", "completionDateStruct"),
    ):
        study[column], study[f"{column}_type"] = _date_of(status, struct)
        study[f"{column}_sort"] = sortable_date(study[column])

    locations = [
        _location(position, item)
        for position, item in enumerate(_dicts(_dict(protocol.get("contactsLocationsModule")).get("locations")))
    ]
    if known_hash is None or known_raw_json is None:
        known_raw_json, known_hash = canonical_json_and_hash(record)
    return Normalized(nct_id=nct_id, record=record, study=study, locations=locations, raw_json=known_raw_json,
                      content_hash=known_hash)  # fmt: skip


_AGE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+?)s?\s*")
_DATE = re.compile(r"(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?")
_CONTACT_KEYS = ("name", "role", "phone", "phoneExt", "email")


def age_in_years(value: Any) -> float | None:
    """'18 Years' -> 18.0, '6 Months' -> 0.5; None for 'N/A', absent or unreadable ages."""
    return _age_text_in_years(value) if isinstance(value, str) else None


# Ages and dates repeat across studies ("18 Years", "2024-06"): both parsers are pure, with immutable results.
@functools.lru_cache(maxsize=4096)
def _age_text_in_years(value: str) -> float | None:
    match = _AGE.fullmatch(value)
    if not match:
        return None
    unit = _AGE_UNITS_IN_YEARS.get(match.group(2).lower())
    return None if unit is None else _float(round(float(match.group(1)) * unit, 4))


def sortable_date(value: str | None) -> dt.date | None:
    """'2008-11' -> 2008-11-01, '2008' -> 2008-01-01, '2015-09-28' as is; None when unreadable."""
    if not value:
        return None
    return _sortable_date_text(value)


@functools.lru_cache(maxsize=4096)
def _sortable_date_text(value: str) -> dt.date | None:
    match = _DATE.fullmatch(value.strip())
    if not match:
        return None
    try:
        return dt.date(int(match.group(1)), int(match.group(2) or 1), int(match.group(3) or 1))
    except ValueError:
        return None


def _location(position: int, item: dict[str, Any]) -> dict[str, Any]:
    get = item.get
    geo = get("geoPoint")
    if not isinstance(geo, dict):
        geo = {}
    contacts = get("contacts")
    return {
        "position": position,
        "facility": _text(get("facility")),
        "city": _text(get("city")),
        "state": _text(get("state")),
        "zip": _text(get("zip")),
        "country": _text(get("country")),
        "status": _text(get("status")),
        "lat": _float(geo.get("lat")),
        "lon": _float(geo.get("lon")),
        "contacts": [
            {key: contact[key] for key in _CONTACT_KEYS if contact.get(key)}
            for contact in contacts
            if isinstance(contact, dict)
        ]
        if isinstance(contacts, list)
        else [],
    }


def _date_of(status: dict[str, Any], struct: str) -> tuple[str | None, str | None]:
    value = _dict(status.get(struct))
    return _text(value.get("date")), _text(value.get("type"))



def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [str(item) for item in value if item is not None] if isinstance(value, list) else []


def _text(value: Any) -> str | None:
    """Text as given, except NUL (no PostgreSQL text column holds it; the raw JSON keeps it)."""
    if type(value) is str:
        return value.replace("\x00", "") if "\x00" in value else value
    if value is None or isinstance(value, (dict, list)):
        return None
    return _text(str(value))


# The bounds of a 64-bit signed integer column (SQLite INTEGER, PostgreSQL BIGINT); past them a number is None.
INT_MIN, INT_MAX = -(2**63), 2**63 - 1


def _int(value: Any) -> int | None:
    """An integer that fits a database column, else None (the raw JSON keeps the number as given)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if INT_MIN <= number <= INT_MAX else None


def _float(value: Any) -> float | None:
    """A finite float, else None (NaN and infinities are neither sortable nor portable)."""
    try:
        number = None if value is None or isinstance(value, bool) else float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if number is not None and math.isfinite(number) else None


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None
