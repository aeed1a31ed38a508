"""Pure functions: one ClinicalTrials.gov API v2 study (a dict) -> a flat record, plus its canonical hash.

Tolerant by design: a missing module or field gives None or an empty list, and an unknown enum value is kept as
given. Partial dates ("2008-11") are kept as given, with a sortable `datetime.date` beside them.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

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


# The canonical text is exactly json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False), and
# the content hash the SHA-256 of that text without HASH_IGNORED_PATHS. HASH_SCHEME names this definition; every
# stored content_hash was made under it. Whoever changes the text or the hash must give it a new number and
# re-hash the stored versions in a migration (tests/ingest/test_canonical.py keeps the fast encoder to scheme 1).
HASH_SCHEME = 1

# The exact encoder: json.dumps with the arguments above, made once; keys encoded as its C encoder does them.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_encode_key = json.encoder.encode_basestring

# The fast encoder, orjson with sorted keys, writes the same bytes for every string, int, bool, list and dict
# with string keys. It differs only on floats in exponent form (json "1e-05", "1e+16"; orjson "0.00001", "1e16")
# and non-finite floats (json "NaN", orjson "null"): any output where such a number may hide matches this
# pattern (a number or null right after ":", "," or "[") and is encoded again by the exact encoder (a false
# alarm, such as a text holding ',null', only costs time).
# Whatever orjson refuses (ints beyond 64 bits, non-string keys, lone surrogates, subclasses of str/int/dict/list,
# very deep nesting, other types) takes the exact encoder too, which then encodes it or raises as json does.
_MAYBE_DIFFERENT = re.compile(rb"(?:^|[:,\[])(?:-?[0-9]+(?:\.[0-9]+)?[eE]|-?0\.0000|null)")
_FAST_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATETIME
_FAST_OPTIONS |= orjson.OPT_PASSTHROUGH_DATACLASS


def _fast_canonical(value: Any) -> bytes | None:
    """The canonical text of `value` as UTF-8 from orjson, or None when only the exact encoder can be trusted."""
    try:
        out = orjson.dumps(value, option=_FAST_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError
        return None
    return None if _MAYBE_DIFFERENT.search(out) else out


def canonical_json(record: Any) -> str:
    """Compact JSON with sorted keys: the same content always gives the same text."""
    fast = _fast_canonical(record)
    return fast.decode("utf-8") if fast is not None else _CANONICAL.encode(record)


def content_hash(record: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of `record` without HASH_IGNORED_PATHS (the input is left untouched)."""
    return canonical_json_and_hash(record)[1]


def canonical_json_and_hash(record: dict[str, Any]) -> tuple[str, str]:
    """`(canonical_json(record), content_hash(record))`: orjson when it gives the exact text, else the exact way."""
    full = _fast_canonical(record)
    if full is not None:
        kept = _without_ignored(record)
        hashed = full if kept is record else _fast_canonical(kept)
        if hashed is not None:
            return full.decode("utf-8"), hashlib.sha256(hashed).hexdigest()
    return exact_canonical_json_and_hash(record)


def exact_canonical_json_and_hash(record: dict[str, Any]) -> tuple[str, str]:
    """The reference of scheme 1 with the stdlib encoder, serialising the record once instead of twice.

    The canonical text of a dict is "{" + ",".join(key + ":" + text of value, keys sorted) + "}", so both texts are
    assembled from the same pieces: only the dicts along HASH_IGNORED_PATHS are taken apart, and each of their
    other values is encoded once and shared. Dicts with keys that are not all strings (never from JSON) take the
    plain two-pass way.
    """
    try:
        text, hashed = _canonical_pair(record, _IGNORED_TREE)
    except _NotAllStringKeys:
        return _CANONICAL.encode(record), _sha256(_CANONICAL.encode(_without_ignored(record)))
    return text, _sha256(hashed)


# The daily stamp in a study's raw bytes, as the API writes it (miscInfoModule holds only it, first). Where the
# bytes hold it otherwise (escapes, another order, or more than one miscInfoModule) nothing is blanked: the
# fingerprint then changes with the stamp and the study takes the exact comparison.
_VERSION_HOLDER = re.compile(rb'"miscInfoModule"\s*:\s*\{\s*"versionHolder"\s*:\s*"[^"\\]*"')


def fingerprint(raw: bytes) -> str:
    """SHA-256 of one study's raw JSON bytes with the versionHolder stamp blanked; equal fingerprints mean equal
    bytes but for the stamp, so equal content hashes (HASH_IGNORED_PATHS ignores the stamp)."""
    if raw.count(b'"miscInfoModule"') == 1:
        raw = _VERSION_HOLDER.sub(b'"miscInfoModule":{"versionHolder":""', raw, count=1)
    return hashlib.sha256(raw).hexdigest()


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class _NotAllStringKeys(Exception):
    pass


def _ignored_tree(paths: Iterable[tuple[str, ...]]) -> dict[str, Any]:
    """HASH_IGNORED_PATHS as nested dicts; None marks an ignored key."""
    tree: dict[str, Any] = {}
    for path in paths:
        node = tree
        for key in path[:-1]:
            node = node.setdefault(key, {})
            assert node is not None, "an ignored path lies inside another"
        assert path[-1] not in node, "an ignored path lies inside another"
        node[path[-1]] = None
    return tree


_IGNORED_TREE = _ignored_tree(HASH_IGNORED_PATHS)
_ABSENT = object()


def _canonical_pair(value: dict[str, Any], tree: dict[str, Any]) -> tuple[str, str]:
    """Canonical JSON of `value`, and of `value` without the non-null values at the ignored paths of `tree`
    (as `_without_ignored` removes them: only when every dict along the path is a dict)."""
    if not all(type(key) is str for key in value):
        raise _NotAllStringKeys
    full: list[str] = []
    kept: list[str] = []
    for key in sorted(value):
        item = value[key]
        node = tree.get(key, _ABSENT)
        if node is _ABSENT or (node is not None and not isinstance(item, dict)):
            piece = _encode_key(key) + ":" + _CANONICAL.encode(item)
            full.append(piece)
            kept.append(piece)
        elif node is None:
            piece = _encode_key(key) + ":" + _CANONICAL.encode(item)
            full.append(piece)
            if item is None:
                kept.append(piece)
        else:
            text, hashed = _canonical_pair(item, node)
            full.append(_encode_key(key) + ":" + text)
            kept.append(_encode_key(key) + ":" + hashed)
    return "{" + ",".join(full) + "}", "{" + ",".join(kept) + "}"


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


NCT_ID = re.compile(r"NCT\d{8}")  # the only shape ClinicalTrials.gov gives; ids name files and sort exports


def nct_id_of(record: dict[str, Any]) -> str:
    """The record's NCT id, or ValueError when the record has none or it is not NCT plus 8 digits."""
    nct_id = _get(record, "protocolSection", "identificationModule", "nctId")
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
    return None if unit is None else round(float(match.group(1)) * unit, 4)


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
    if type(value) is str:
        return value
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
