"""Pure functions: one ClinicalTrials.gov API v2 study (a dict) -> a flat record, plus its canonical hash.

Tolerant by design: a missing module or field gives None or an empty list, and an unknown enum value is kept as
given. Partial dates ("2008-11") are kept as given, with a sortable `datetime.date` beside them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

# Paths left out of the content hash, each with the reason. Nothing else is ignored.
HASH_IGNORED_PATHS: dict[tuple[str, ...], str] = {
    ("derivedSection", "miscInfoModule", "versionHolder"): (
        "the date stamp of the API's daily data build: it moves for every record on every refresh, "
        "so hashing it would write a new version of every study every day although nothing in the record changed"
    ),
}

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


def canonical_json(record: Any) -> str:
    """Compact JSON with sorted keys: the same content always gives the same text."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(record: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of `record` without HASH_IGNORED_PATHS (the input is left untouched)."""
    return hashlib.sha256(canonical_json(_without_ignored(record)).encode("utf-8")).hexdigest()


def _without_ignored(record: dict[str, Any]) -> dict[str, Any]:
    """`record` minus the ignored paths: only the dicts along each path are copied, never the whole record."""
    result = record
    for path in HASH_IGNORED_PATHS:
        if _get(result, *path) is None:
            continue
        result = dict(result)
        parent = result
        for key in path[:-1]:
            parent[key] = dict(parent[key])
            parent = parent[key]
        del parent[path[-1]]
    return result


def nct_id_of(record: dict[str, Any]) -> str:
    """The record's NCT id, or ValueError when the record has none."""
    nct_id = _get(record, "protocolSection", "identificationModule", "nctId")
    if not isinstance(nct_id, str) or not nct_id:
        raise ValueError("study record without protocolSection.identificationModule.nctId")
    return nct_id


def normalize(record: dict[str, Any], known_hash: str | None = None) -> Normalized:
    """Flatten one API study record; never raises for missing or unexpected optional content.

    `known_hash`, when the caller already has `content_hash(record)`, saves computing it again.
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
    return Normalized(
        nct_id=nct_id,
        record=record,
        study=study,
        locations=locations,
        raw_json=canonical_json(record),
        content_hash=known_hash or content_hash(record),
    )


def age_in_years(value: Any) -> float | None:
    """'18 Years' -> 18.0, '6 Months' -> 0.5; None for 'N/A', absent or unreadable ages."""
    if not isinstance(value, str):
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+?)s?\s*", value)
    if not match:
        return None
    unit = _AGE_UNITS_IN_YEARS.get(match.group(2).lower())
    return None if unit is None else round(float(match.group(1)) * unit, 4)


def sortable_date(value: str | None) -> dt.date | None:
    """'2008-11' -> 2008-11-01, '2008' -> 2008-01-01, '2015-09-28' as is; None when unreadable."""
    if not value:
        return None
    match = re.fullmatch(r"(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?", value.strip())
    if not match:
        return None
    try:
        return dt.date(int(match.group(1)), int(match.group(2) or 1), int(match.group(3) or 1))
    except ValueError:
        return None


def _location(position: int, item: dict[str, Any]) -> dict[str, Any]:
    geo = _dict(item.get("geoPoint"))
    return {
        "position": position,
        "facility": _text(item.get("facility")),
        "city": _text(item.get("city")),
        "state": _text(item.get("state")),
        "zip": _text(item.get("zip")),
        "country": _text(item.get("country")),
        "status": _text(item.get("status")),
        "lat": _float(geo.get("lat")),
        "lon": _float(geo.get("lon")),
        "contacts": [
            {key: contact[key] for key in ("name", "role", "phone", "phoneExt", "email") if contact.get(key)}
            for contact in _dicts(item.get("contacts"))
        ],
    }


def _date_of(status: dict[str, Any], struct: str) -> tuple[str | None, str | None]:
    value = _dict(status.get(struct))
    return _text(value.get("date")), _text(value.get("type"))


def _get(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [str(item) for item in value if item is not None] if isinstance(value, list) else []


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    return str(value)


def _int(value: Any) -> int | None:
    try:
        return None if value is None or isinstance(value, bool) else int(value)
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    try:
        return None if value is None or isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        return None


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None
