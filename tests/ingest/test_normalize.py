"""normalize(): every real recorded API record in ../shared/ctgov (skipped when absent) and our own fixtures
flatten without error and agree with the raw JSON; odd input is tolerated, never a crash."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SHARED_CTGOV
from tests.worldgen import load_fixture_studies
from trialfinder.ingest.normalize import (
    HASH_IGNORED_PATHS,
    age_in_years,
    canonical_json,
    canonical_json_and_hash,
    content_hash,
    normalize,
    sortable_date,
)


def real_records() -> list[Any]:
    """Each study object in the shared recorded responses (pages and single records)."""
    responses = SHARED_CTGOV / "responses"
    if not responses.is_dir():
        return []
    records = []
    for path in sorted(responses.rglob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        found = data.get("studies") if isinstance(data, dict) and "studies" in data else [data]
        for record in found or []:
            if isinstance(record, dict) and "protocolSection" in record:
                nct_id = record["protocolSection"]["identificationModule"]["nctId"]
                records.append(pytest.param(record, id=f"{path.name}:{nct_id}"))
    return records


REAL = real_records()
OURS = [pytest.param(r, id=r["protocolSection"]["identificationModule"]["nctId"]) for r in load_fixture_studies()]


def check_against_raw(record: dict[str, Any]) -> None:
    before = copy.deepcopy(record)
    item = normalize(record)
    assert record == before, "normalize must not modify its input"
    protocol = record["protocolSection"]
    status = protocol.get("statusModule", {})
    assert item.nct_id == protocol["identificationModule"]["nctId"]
    assert item.study["brief_title"] == protocol["identificationModule"].get("briefTitle")
    assert item.study["overall_status"] == status.get("overallStatus")
    assert item.study["conditions"] == protocol.get("conditionsModule", {}).get("conditions", [])
    assert item.study["phases"] == protocol.get("designModule", {}).get("phases", [])
    start = status.get("startDateStruct", {}).get("date")
    assert item.study["start_date"] == start
    if start:
        assert isinstance(item.study["start_date_sort"], dt.date)
        assert item.study["start_date_sort"].isoformat().startswith(start)
    names = [i.get("name") for i in protocol.get("armsInterventionsModule", {}).get("interventions", [])]
    assert [i["name"] for i in item.study["interventions"]] == names
    assert len(item.locations) == len(protocol.get("contactsLocationsModule", {}).get("locations", []))
    assert json.loads(item.raw_json) == record
    assert item.content_hash == content_hash(copy.deepcopy(record))
    minimum = protocol.get("eligibilityModule", {}).get("minimumAge")
    assert item.study["min_age"] == minimum
    if minimum and minimum[0].isdigit():
        assert item.study["min_age_years"] is not None


@pytest.mark.skipif(not REAL, reason="../shared/ctgov/responses is not available")
@pytest.mark.parametrize("record", REAL)
def test_every_real_record_normalizes(record: dict[str, Any]) -> None:
    check_against_raw(record)


@pytest.mark.parametrize("record", OURS)
def test_every_fixture_record_normalizes(record: dict[str, Any]) -> None:
    check_against_raw(record)


def test_missing_modules_and_unknown_enums_are_tolerated() -> None:
    minimal = {"protocolSection": {"identificationModule": {"nctId": "NCT00000042"},
                                   "statusModule": {"overallStatus": "SOMETHING_NEW", "startDateStruct": "odd"},
                                   "designModule": {"phases": "PHASE2", "enrollmentInfo": {"count": "n/a"}},
                                   "contactsLocationsModule": {"locations": [None, {"geoPoint": {"lat": "x"}}]}}}
    item = normalize(minimal)
    assert item.study["overall_status"] == "SOMETHING_NEW"
    assert item.study["phases"] == ["PHASE2"]
    assert item.study["enrollment"] is None and item.study["start_date"] is None
    assert item.study["conditions"] == [] and item.study["has_results"] is False
    assert len(item.locations) == 1 and item.locations[0]["lat"] is None
    with pytest.raises(ValueError, match="nctId"):
        normalize({"protocolSection": {}})
    for bad in ("../../x", "NCT1234567", "NCT123456789", "nct01234567"):
        with pytest.raises(ValueError, match="malformed NCT id"):
            normalize({"protocolSection": {"identificationModule": {"nctId": bad}}})


def test_hash_ignores_only_the_named_paths() -> None:
    record = load_fixture_studies()[0]
    base = content_hash(record)
    for path in HASH_IGNORED_PATHS:
        changed = copy.deepcopy(record)
        target = changed
        for key in path[:-1]:
            target = target.setdefault(key, {})
        target[path[-1]] = "2099-01-01"
        assert content_hash(changed) == base
    reordered = json.loads(json.dumps(record, sort_keys=True))
    assert content_hash(reordered) == base  # key order never matters
    other = copy.deepcopy(record)
    other["protocolSection"]["identificationModule"]["briefTitle"] += "."
    assert content_hash(other) != base


def _odd_derived_sections(record: dict[str, Any]) -> list[dict[str, Any]]:
    """`record` with the ignored path null, empty, not a dict, absent, or next to other odd content."""
    variants = []
    for derived in (None, [1, 2], {}, {"miscInfoModule": None}, {"miscInfoModule": {"versionHolder": None, "a": 1}},
                    {"miscInfoModule": {"versionHolder": {"x": [1, 2.5, "é\u2028"]}, "zz": "\ud800"}, "\x00": 1e300},
                    {"miscInfoModule": {"versionHolder": 0}, "conditionBrowseModule": {}}):  # fmt: skip
        odd = copy.deepcopy(record)
        odd["derivedSection"] = derived
        variants.append(odd)
    absent = copy.deepcopy(record)
    absent.pop("derivedSection", None)
    absent['a "quoted" \\ key ≥'] = {"derivedSection": {"miscInfoModule": {"versionHolder": "x"}}}
    return [*variants, absent]


def _outcome(fn: Any, record: dict[str, Any]) -> Any:
    """The result, or the type of the exception (a lone surrogate cannot be hashed either way)."""
    try:
        return fn(record)
    except Exception as exc:  # compared, not swallowed
        return type(exc)


@pytest.mark.parametrize("record", [*REAL, *OURS])
def test_canonical_json_and_hash_is_the_two_separate_results(record: dict[str, Any]) -> None:
    for each in (record, *_odd_derived_sections(record)):
        before = copy.deepcopy(each)
        assert _outcome(canonical_json_and_hash, each) == _outcome(lambda r: (canonical_json(r), content_hash(r)), each)
        assert each == before
    odd_key: dict[Any, Any] = {**record, 1: "a key that is not a string"}
    with pytest.raises(TypeError):
        canonical_json_and_hash(odd_key)


@pytest.mark.parametrize(
    ("text", "years"),
    [("18 Years", 18.0), ("6 Months", 0.5), ("1 Year", 1.0), ("2 Weeks", 0.0383), ("N/A", None), (None, None),
     ("eighteen", None)],
)
def test_age_in_years(text: str | None, years: float | None) -> None:
    assert age_in_years(text) == years


def test_partial_dates_are_sortable() -> None:
    assert sortable_date("2008-11") == dt.date(2008, 11, 1)
    assert sortable_date("2008") == dt.date(2008, 1, 1)
    assert sortable_date("2015-09-28") == dt.date(2015, 9, 28)
    assert sortable_date("2015-13") is None and sortable_date("") is None


def test_shared_folder_is_outside_the_repo() -> None:
    assert not (Path(__file__).resolve().parent.parent.parent / "shared").exists()
