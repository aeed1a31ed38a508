"""The canonical text and content hash of a study record (scheme HASH_SCHEME), fast through orjson where that gives
the exact bytes; the fingerprint of a study's raw bytes; and json parsing (through msgspec where it gives json's
values) that tells whether orjson may be trusted with the record's floats. Pure functions."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from typing import Any

import msgspec
import orjson

# Paths left out of the content hash, each with the reason. Nothing else is ignored.
HASH_IGNORED_PATHS: dict[tuple[str, ...], str] = {
    ("derivedSection", "miscInfoModule", "versionHolder"): (
        "the date stamp of the API's daily data build: it moves for every record on every refresh, "
        "so hashing it would write a new version of every study every day although nothing in the record changed"
    ),
}

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


def _fast_canonical(value: Any, floats_plain: bool = False) -> bytes | None:
    """The canonical text of `value` as UTF-8 from orjson, or None when only the exact encoder can be trusted;
    `floats_plain` (see loads_checked) spares the scan for floats the two write differently."""
    try:
        out = orjson.dumps(value, option=_FAST_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError
        return None
    return None if not floats_plain and _MAYBE_DIFFERENT.search(out) else out


class _NotPlainFloat(Exception):
    """A float json writes in exponent form, or not finite: the fast parse gives way to the exact one."""


def _is_plain(value: float) -> bool:
    """0, or 1e-4 <= |value| < 1e16: json writes it without exponent, and orjson writes it the same (NaN and the
    infinities are not plain)."""
    return value == 0.0 or 1e-4 <= abs(value) < 1e16


def _plain_float(text: str) -> float:
    value = float(text)
    if not _is_plain(value):
        raise _NotPlainFloat
    return value


# msgspec parses a study about twice as fast as json.loads with a float hook, into the same values wherever it
# accepts the text (ints of any size, duplicate keys, escapes); it refuses lone surrogates, NaN/Infinity and a BOM,
# which json takes: those, and any float outside the plain range, go the exact way (_loads_checked_exactly).
_FAST_DECODER = msgspec.json.Decoder(float_hook=_plain_float)


def loads_checked(raw: bytes) -> tuple[Any, bool]:
    """json.loads(raw), and whether each float in it is finite and written without exponent by json, i.e. 0 or
    1e-4 <= |x| < 1e16, where orjson writes every float exactly as json does."""
    try:
        return _FAST_DECODER.decode(raw), True
    except (_NotPlainFloat, msgspec.DecodeError):
        return _loads_checked_exactly(raw)


def _loads_checked_exactly(raw: bytes) -> tuple[Any, bool]:
    """loads_checked with the stdlib parser, the reference."""
    plain = True

    def parse_float(text: str) -> float:
        nonlocal plain
        value = float(text)
        plain = plain and _is_plain(value)
        return value

    def parse_constant(name: str) -> float:
        nonlocal plain
        plain = False
        return float(name)  # NaN, Infinity, -Infinity, as json.loads gives them

    return json.loads(raw, parse_float=parse_float, parse_constant=parse_constant), plain


def canonical_json(record: Any) -> str:
    """Compact JSON with sorted keys: the same content always gives the same text."""
    fast = _fast_canonical(record)
    return fast.decode("utf-8") if fast is not None else _CANONICAL.encode(record)


def content_hash(record: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of `record` without HASH_IGNORED_PATHS (the input is left untouched)."""
    return canonical_json_and_hash(record)[1]


def canonical_json_and_hash(record: dict[str, Any], floats_plain: bool = False) -> tuple[str, str]:
    """`(canonical_json(record), content_hash(record))`: orjson when it gives the exact text, else the exact way.
    `floats_plain`: loads_checked said so of the bytes `record` was parsed from."""
    full = _fast_canonical(record, floats_plain)
    if full is not None:
        kept = _without_ignored(record)
        hashed = full if kept is record else _spliced(full, record, kept) or _fast_canonical(kept, floats_plain)
        if hashed is not None:
            return full.decode("utf-8"), hashlib.sha256(hashed).hexdigest()
    return exact_canonical_json_and_hash(record)


def _spliced(full: bytes, record: dict[str, Any], kept: dict[str, Any]) -> bytes | None:
    """The fast canonical text of `kept` made from `full`, that of `record`, without encoding the record again: the
    one object holding the ignored key, as it is encoded inside `full` ("key":{...}), is replaced by its encoding
    without it. Only when that piece occurs exactly once in `full` (it occurs at least once: there), so nothing else
    can be replaced; None otherwise (one ignored path only, not at the top)."""
    if len(HASH_IGNORED_PATHS) != 1:
        return None
    (path,) = HASH_IGNORED_PATHS
    if len(path) < 2:
        return None
    before, after = get_path(record, *path[:-1]), get_path(kept, *path[:-1])
    old, new = _fast_canonical(before, True), _fast_canonical(after)
    if old is None or new is None:
        return None
    key = _fast_canonical(path[-2], True)
    assert key is not None
    piece = key + b":" + old
    if full.count(piece) != 1:
        return None
    return full.replace(piece, key + b":" + new)


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


_MISC = b'"miscInfoModule"'
_BLANK_STAMP = b'"miscInfoModule":{"versionHolder":""'


def fingerprint(raw: bytes) -> str:
    """SHA-256 of one study's raw JSON bytes with the versionHolder stamp blanked; equal fingerprints mean equal
    bytes but for the stamp, so equal content hashes (HASH_IGNORED_PATHS ignores the stamp)."""
    at = raw.find(_MISC)
    stamp = _VERSION_HOLDER.match(raw, at) if at >= 0 and raw.find(_MISC, at + 1) < 0 else None
    if stamp is not None:  # one copy with the stamp blanked (a few µs), then one hash: SHA-256 gives the GIL back
        # for each input over 2 KB, and a read-ahead thread next to a busy one waits a switch interval each time
        raw = b"".join((memoryview(raw)[:at], _BLANK_STAMP, memoryview(raw)[stamp.end():]))
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
        if get_path(result, *path) is None:
            continue
        result = dict(result)
        parent = result
        for key in path[:-1]:
            parent[key] = dict(parent[key])
            parent = parent[key]
        del parent[path[-1]]
    return result


def get_path(data: Any, *path: str) -> Any:
    """data[path[0]][path[1]]... of parsed API JSON; None where a step is missing or not an object."""
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data
