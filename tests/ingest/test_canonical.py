"""The fast canonical encoder (orjson) gives byte for byte the text and hash of the exact definition (stdlib json,
scheme 1), so every stored content_hash stays valid: on every real recorded record in ../shared/ctgov (skipped
when absent), on our fixtures and benchmark records, and on the values where orjson and json differ."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import random
import struct
from pathlib import Path
from typing import Any

import pytest

from benchmarks.realshape import real_shaped_study
from tests.conftest import SHARED_CTGOV
from tests.worldgen import load_fixture_studies
from trialfinder.ingest import canonical
from trialfinder.ingest.canonical import (
    HASH_IGNORED_PATHS,
    HASH_SCHEME,
    canonical_json,
    canonical_json_and_hash,
    content_hash,
    exact_canonical_json_and_hash,
    loads_checked,
)


def reference(record: Any) -> tuple[str, str]:
    """Scheme 1 straight from its definition: json.dumps sorted and compact, SHA-256 without the ignored paths."""
    text = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    kept = copy.deepcopy(record)
    for path in HASH_IGNORED_PATHS:
        parent = kept
        for key in path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if isinstance(parent, dict) and parent.get(path[-1]) is not None:
            del parent[path[-1]]
    hashed = json.dumps(kept, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text, hashlib.sha256(hashed.encode("utf-8")).hexdigest()


def _shared_responses() -> Path | None:
    for base in (SHARED_CTGOV, SHARED_CTGOV.parent.parent.parent / "shared" / "ctgov"):
        if (base / "responses").is_dir():
            return base / "responses"
    return None


def real_records() -> list[Any]:
    """Every study object in the recorded responses, pages and single records."""
    responses = _shared_responses()
    records = []
    for path in sorted(responses.rglob("*.json")) if responses else []:
        data = json.loads(path.read_text(encoding="utf-8"))
        found = data.get("studies") if isinstance(data, dict) and "studies" in data else [data]
        for number, record in enumerate(found or []):
            if isinstance(record, dict):
                records.append(pytest.param(record, id=f"{path.name}:{number}"))
    return records


REAL = real_records()
OURS = [pytest.param(s, id=s["protocolSection"]["identificationModule"]["nctId"]) for s in load_fixture_studies()]
BENCH = [pytest.param(real_shaped_study(i), id=f"bench-{i}") for i in range(4)]


@pytest.mark.skipif(not REAL, reason="no recorded API responses in ../shared/ctgov")
@pytest.mark.parametrize("record", REAL)
def test_real_records_fast_and_identical(record: dict[str, Any]) -> None:
    assert canonical_json_and_hash(record) == reference(record)
    assert canonical_json(record) == reference(record)[0]
    if "protocolSection" in record:
        assert canonical._fast_canonical(record) is not None, "a real study should not need the exact encoder"


@pytest.mark.parametrize("record", [*OURS, *BENCH])
def test_our_records_fast_and_identical(record: dict[str, Any]) -> None:
    assert canonical_json_and_hash(record) == reference(record) == exact_canonical_json_and_hash(record)
    assert content_hash(record) == reference(record)[1]


class _Str(str):
    pass


ODD_VALUES: list[Any] = [
    1e-05, 1e16, -7.1850441006303285e-09, 123456789012345678.0, 5e-324, 1.7976931348623157e308, 0.1, -0.0, 1e15,
    float("nan"), float("inf"), float("-inf"), 2**63, 2**64, -(2**63) - 1, 10**40, True, None, "null", "1e5",
    "0.00001", "\u2028\x7f\x00\x1f\"\\é😀", "\ud800", _Str("sub"), {1: "int key"}, {"b": 1, "a": [1, {"z": None}]},
    (1, 2), [], {}, dt.date(2024, 1, 2), {"ä": 1, "z": 2, "Z": 3, "\uffff": 4, "😀": 5},
]  # fmt: skip


def _outcome(fn: Any, value: Any) -> Any:
    try:
        return fn(value)
    except Exception as exc:  # compared, not swallowed
        return type(exc)


@pytest.mark.parametrize("value", ODD_VALUES, ids=repr)
def test_values_where_orjson_differs_take_the_exact_way(value: Any) -> None:
    record = {"protocolSection": {"x": value}, "derivedSection": {"miscInfoModule": {"versionHolder": value}}}
    assert _outcome(canonical_json_and_hash, record) == _outcome(reference, record)
    exact = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
    assert _outcome(canonical_json, value) == _outcome(exact, value)


def test_random_floats_and_deep_nesting() -> None:
    rng = random.Random(15)
    floats = [struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0] for _ in range(3000)]
    floats += [rng.uniform(1, 10) * 10.0 ** rng.randint(-30, 30) for _ in range(3000)]
    deep: dict[str, Any] = {}
    record = {"values": floats, "deep": deep}
    node = deep
    for _ in range(300):  # deeper than orjson takes
        node["d"] = {}
        node = node["d"]
    assert _outcome(canonical_json_and_hash, record) == _outcome(reference, record)


def test_hash_scheme_is_the_one_stored_hashes_were_made_with() -> None:
    # A fixed record and the hash stdlib json gave it under scheme 1: if this changes, stored hashes are invalid.
    record = {"b": [1, 2.5, "é"], "a": {"c": None}, "derivedSection": {"miscInfoModule": {"versionHolder": "x"}}}
    assert HASH_SCHEME == 1
    assert content_hash(record) == reference(record)[1]
    assert content_hash(record) == hashlib.sha256(b'{"a":{"c":null},"b":[1,2.5,"\xc3\xa9"],'
                                                  b'"derivedSection":{"miscInfoModule":{}}}').hexdigest()


@pytest.mark.parametrize("value", ODD_VALUES[:20], ids=repr)
def test_loads_checked_vouches_only_for_floats_orjson_writes_as_json(value: Any) -> None:
    record = {"protocolSection": {"x": value}, "derivedSection": {"miscInfoModule": {"versionHolder": "v"}}}
    raw = json.dumps(record).encode()
    parsed, plain = loads_checked(raw)
    assert parsed == record or value != value  # NaN is not equal to itself
    assert canonical_json_and_hash(parsed, plain) == reference(parsed)
    if plain:
        assert canonical._fast_canonical(parsed, floats_plain=True) is not None or isinstance(value, int)


# Texts the fast parser (msgspec) and the stdlib may read differently: sizes of ints, floats at the edges of the
# plain range and beyond it, escapes, lone surrogates (escaped and raw), NaN, a BOM, duplicate keys, deep nesting.
ODD_TEXTS: list[bytes] = [
    b"-0", b"[-0, -0.0, 0.0, 0e0]", b"123456789012345678901234", b"-9223372036854775809", b"18446744073709551616",
    b"1e400", b"-1e-400", b"[0.0001, 0.00009999, 9999999999999998.0, 1e16, 1E2, 1.5e-7]", b'"\\ud800"',
    b'"\xed\xa0\x80"', b"[NaN, Infinity]", b"\xef\xbb\xbf{}", b'{"a": 1, "a": 2.5}', b'"\\u00e4\\n\\/\\u2028"',
    b" [1] ", b"[" * 600 + b"]" * 600, b'{"x": 2.2250738585072011e-308, "y": 1.7976931348623157e308}',
]  # fmt: skip


@pytest.mark.parametrize("raw", ODD_TEXTS, ids=lambda raw: repr(raw[:40]))
def test_loads_checked_reads_what_json_reads_and_says_plain_as_the_stdlib_does(raw: bytes) -> None:
    expected = _outcome(canonical._loads_checked_exactly, raw)
    got = _outcome(loads_checked, raw)
    assert repr(got) == repr(expected)  # repr: NaN and -0.0 compare as written
    if isinstance(got, tuple):
        assert [type(v) for v in _leaves(got[0])] == [type(v) for v in _leaves(expected[0])]


def test_loads_checked_on_random_floats_is_the_stdlib() -> None:
    rng = random.Random(16)
    floats = [struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0] for _ in range(2000)]
    floats += [rng.uniform(1, 10) * 10.0 ** rng.randint(-8, 20) for _ in range(2000)]
    for value in floats:
        raw = json.dumps([value]).encode()
        assert repr(loads_checked(raw)) == repr(canonical._loads_checked_exactly(raw)), raw


def _leaves(value: Any) -> list[Any]:
    """The scalars of a parsed JSON value, depth first (without recursion: some values nest deeply)."""
    leaves, todo = [], [value]
    while todo:
        item = todo.pop()
        if isinstance(item, dict | list):
            todo.extend(reversed(list(item.values() if isinstance(item, dict) else item)))
        else:
            leaves.append(item)
    return leaves


@pytest.mark.parametrize("misc", [
    {"versionHolder": "2026-11-20"}, {"versionHolder": "x", "removedCountries": ["France"]},
    {"a": 1, "versionHolder": "y", "z": [1.5]}, {"versionHolder": 1e-05}, {"versionHolder": None},
])  # fmt: skip
def test_the_hashed_text_spliced_from_the_full_one_is_the_definitions(misc: dict[str, Any]) -> None:
    record = {"protocolSection": {"t": "\\"}, "derivedSection": {"miscInfoModule": misc}}
    assert canonical_json_and_hash(record) == reference(record)
    twice = {**record, "protocolSection": {"miscInfoModule": copy.deepcopy(misc)}}  # the same piece elsewhere too
    assert canonical_json_and_hash(twice) == reference(twice)
    inside = {**record, "protocolSection": {"text": '"miscInfoModule":' + json.dumps(misc, separators=(",", ":"))}}
    assert canonical_json_and_hash(inside) == reference(inside)
