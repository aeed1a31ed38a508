"""Query side of the stand-in ClinicalTrials.gov API v2 (NOT the real registry) used by the tests and the demo.

Parameter validation, page tokens, the per-study search index, a small, deliberately
simple stand-in for Essie search (see ``compile_query``) and the answer building blocks
(``Response``, nginx error pages). The HTTP server itself is in ``trialfinder/standin/server.py``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

KNOWN_STUDIES_PARAMS = frozenset(
    {
        "format", "markupFormat",
        "query.cond", "query.term", "query.locn", "query.titles", "query.intr",
        "query.outc", "query.spons", "query.lead", "query.id", "query.patient",
        "filter.overallStatus", "filter.geo", "filter.ids", "filter.advanced", "filter.synonyms",
        "postFilter.overallStatus", "postFilter.geo", "postFilter.ids", "postFilter.advanced",
        "postFilter.synonyms",
        "aggFilters", "geoDecay", "fields", "sort", "countTotal", "pageSize", "pageToken",
    }
)
KNOWN_STUDY_PARAMS = frozenset({"format", "markupFormat", "fields"})
# Parameters that may change between pages (OAS 2.0.3 /studies description).
PAGING_PARAMS = frozenset({"countTotal", "pageSize", "pageToken"})

STATUSES = frozenset(
    {
        "ACTIVE_NOT_RECRUITING", "COMPLETED", "ENROLLING_BY_INVITATION", "NOT_YET_RECRUITING",
        "RECRUITING", "SUSPENDED", "TERMINATED", "WITHDRAWN", "AVAILABLE", "NO_LONGER_AVAILABLE",
        "TEMPORARILY_NOT_AVAILABLE", "APPROVED_FOR_MARKETING", "WITHHELD", "UNKNOWN",
    }
)
NCT_RE = re.compile(r"^[Nn][Cc][Tt]0*([1-9]\d{0,7})$")
DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 1000
BAD_TOKEN_MESSAGE = "Invalid value in parameter pageToken"  # noqa: S105 (an API message, not a password)

# Which part of a record each query.* parameter searches; anything else searches the whole text.
_QUERY_FIELDS = {"query.cond": "cond", "query.intr": "intr", "query.titles": "titles"}
_DATE_CLAUSE = re.compile(
    r"AREA\[\s*LastUpdatePostDate\s*\]\s*RANGE\[\s*([^,\]]*?)\s*,\s*([^\]]*?)\s*\]", re.IGNORECASE
)
# AREA[EligibilityCriteria]word, AREA[EligibilityCriteria]"a phrase" or AREA[EligibilityCriteria](a OR b): that
# expression searched in the eligibility criteria only (the real API's search area of that name).
_AREA_FIELDS = {"eligibilitycriteria": "elig"}
_AREA_CLAUSE = re.compile(r'AREA\[\s*(\w+)\s*\]\s*(\([^()]*\)|"[^"]*"|[^\s()]+)', re.IGNORECASE)
_DATE_VALUE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
_QUOTED = re.compile(r'("[^"]*")')
_AND = re.compile(r"\s+AND\s+", re.IGNORECASE)
_OR = re.compile(r"\s+OR\s+", re.IGNORECASE)


class ApiError(Exception):
    """A 4xx answer: ``status`` and the plain-text ``message`` sent as the body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def normalize_nct(value: str) -> str | None:
    """``nct0967785`` -> ``NCT00967785``; None when the value does not fit the API's id pattern."""
    m = NCT_RE.match(value.strip())
    return f"NCT{int(m.group(1)):08d}" if m else None


def parse_page_size(raw: str | None) -> int:
    """pageSize: absent or 0 -> 10, > 1000 -> 1000, negative or non-integer -> 400."""
    if raw is None or raw.strip() == "":
        return DEFAULT_PAGE_SIZE
    try:
        size = int(raw.strip())
    except ValueError:
        raise ApiError(400, "Invalid value in parameter pageSize") from None
    if size < 0:
        raise ApiError(400, "Invalid value in parameter pageSize")
    return min(size, MAX_PAGE_SIZE) if size else DEFAULT_PAGE_SIZE


def parse_bool(name: str, raw: str | None) -> bool:
    """countTotal style booleans: true/false (any case); anything else -> 400."""
    if raw is None:
        return False
    if raw.strip().lower() in ("true", "false"):
        return raw.strip().lower() == "true"
    raise ApiError(400, f"Invalid value in parameter {name}")


def params_hash(params: Mapping[str, str]) -> str:
    """Hash of every parameter that must stay the same from page to page."""
    items = sorted((k, v) for k, v in params.items() if k not in PAGING_PARAMS)
    return hashlib.sha256(json.dumps(items).encode()).hexdigest()[:16]


def encode_token(offset: int, phash: str) -> str:
    """Opaque URL-safe page token: unpadded base64url of ``{"o": offset, "h": params-hash}``."""
    raw = json.dumps({"o": offset, "h": phash}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, phash: str) -> int:
    """Offset carried by ``token``; 400 if it does not decode or belongs to other parameters."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError):
        raise ApiError(400, BAD_TOKEN_MESSAGE) from None
    if not isinstance(data, dict) or data.get("h") != phash:
        raise ApiError(400, BAD_TOKEN_MESSAGE)
    offset = data.get("o")
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise ApiError(400, BAD_TOKEN_MESSAGE)
    return offset


@dataclass(frozen=True)
class StudyIndex:
    """What the search needs from one study, precomputed when the study is stored."""

    nct_id: str
    status: str
    last_update: str
    cond: str  # conditions + keywords + titles, lower case
    intr: str  # intervention names + otherNames, lower case
    titles: str  # briefTitle + officialTitle + acronym, lower case
    elig: str  # eligibilityCriteria, lower case (AREA[EligibilityCriteria])
    aliases: tuple[str, ...]


def _strs(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def build_index(study: Mapping[str, Any], nct_id: str) -> StudyIndex:
    """Extract the searchable fields of a v2 study record (missing modules are fine)."""
    ps = study.get("protocolSection") or {}
    ident = ps.get("identificationModule") or {}
    status = ps.get("statusModule") or {}
    conds = ps.get("conditionsModule") or {}
    arms = ps.get("armsInterventionsModule") or {}
    titles = [t for k in ("briefTitle", "officialTitle", "acronym") for t in _strs(ident.get(k))]
    intr: list[str] = []
    for iv in arms.get("interventions") or []:
        intr += _strs(iv.get("name")) + _strs(iv.get("otherNames"))
    aliases = [a for a in (normalize_nct(x) for x in _strs(ident.get("nctIdAliases"))) if a]
    return StudyIndex(
        nct_id=nct_id,
        status=str(status.get("overallStatus") or ""),
        last_update=str((status.get("lastUpdatePostDateStruct") or {}).get("date") or ""),
        cond="\n".join(_strs(conds.get("conditions")) + _strs(conds.get("keywords")) + titles).lower(),
        intr="\n".join(intr).lower(),
        titles="\n".join(titles).lower(),
        elig=str((ps.get("eligibilityModule") or {}).get("eligibilityCriteria") or "").lower(),
        aliases=tuple(aliases),
    )


def _split_outside_quotes(text: str, op: re.Pattern[str]) -> list[str]:
    parts = [""]
    for seg in _QUOTED.split(text):
        if len(seg) >= 2 and seg[0] == '"' and seg[-1] == '"':
            parts[-1] += seg
        else:
            pieces = op.split(seg)
            parts[-1] += pieces[0]
            parts.extend(pieces[1:])
    return parts


@dataclass(frozen=True)
class TextQuery:
    """AND of ORs of lower-case substrings, e.g. ``(a OR b) AND c`` -> ``(("a","b"),("c",))``."""

    conjuncts: tuple[tuple[str, ...], ...]

    def matches(self, text: str) -> bool:
        return all(any(alt in text for alt in alts) for alts in self.conjuncts)

    def matches_bytes(self, lowered_body: bytes) -> bool:
        return all(any(alt.encode() in lowered_body for alt in alts) for alts in self.conjuncts)


def parse_text(text: str) -> tuple[list[tuple[str, str]], TextQuery | None]:
    """Split an Essie-ish expression into LastUpdatePostDate ranges and the rest as a TextQuery.

    Only ``AREA[LastUpdatePostDate]RANGE[lo,hi]`` is understood here (``AREA[EligibilityCriteria]...`` is taken
    out before, by ``area_clauses``); any other ``AREA[...]`` text is searched literally (and so matches nothing).
    NOT is not supported.
    """
    ranges: list[tuple[str, str]] = []
    for lo, hi in _DATE_CLAUSE.findall(text):
        lo_u, hi_u = lo.upper(), hi.upper()
        if not (lo_u == "MIN" or _DATE_VALUE.match(lo)) or not (hi_u == "MAX" or _DATE_VALUE.match(hi)):
            raise ApiError(400, f"Invalid RANGE in expression: {text}")
        lo_v = "" if lo_u == "MIN" else lo
        hi_v = "9999-12-31" if hi_u == "MAX" else hi + ("-12-31" if len(hi) == 4 else "-31" if len(hi) == 7 else "")
        ranges.append((lo_v, hi_v))
    rest = _DATE_CLAUSE.sub(" ", text).replace("(", " ").replace(")", " ")
    conjuncts: list[tuple[str, ...]] = []
    for conj in _split_outside_quotes(f" {rest} ", _AND):
        alts = []
        for alt in _split_outside_quotes(f" {conj} ", _OR):
            cleaned = " ".join(alt.replace('"', " ").split()).lower()
            if cleaned:
                alts.append(cleaned)
        if alts:
            conjuncts.append(tuple(alts))
    return ranges, (TextQuery(tuple(conjuncts)) if conjuncts else None)


def area_clauses(text: str) -> tuple[list[tuple[str, TextQuery]], str]:
    """The ``AREA[EligibilityCriteria]...`` clauses of an expression as (index field, query), ANDed with the rest,
    and the text left without them. The clause must be ANDed with the rest (an OR across areas is not faked)."""
    found: list[tuple[str, TextQuery]] = []

    def take(match: re.Match[str]) -> str:
        target = _AREA_FIELDS.get(match.group(1).lower())
        if target is None:
            return match.group(0)
        _, tq = parse_text(match.group(2))
        if tq is not None:
            found.append((target, tq))
        return " "

    return found, _AREA_CLAUSE.sub(take, text)  # an AND left dangling splits off an empty conjunct, dropped


def _split_list(raw: str) -> list[str]:
    return [p.strip() for p in re.split(r"[,|]", raw) if p.strip()]


@dataclass
class CompiledQuery:
    """Filters for one /studies request; ``matches`` tests one study."""

    ids: frozenset[str] | None = None
    statuses: frozenset[str] | None = None
    ranges: list[tuple[str, str]] = field(default_factory=list)
    fields: list[tuple[str, TextQuery]] = field(default_factory=list)  # cond/intr/titles/elig
    whole_text: list[TextQuery] = field(default_factory=list)

    def matches(self, idx: StudyIndex, body: bytes) -> bool:
        if self.ids is not None and idx.nct_id not in self.ids and not self.ids.intersection(idx.aliases):
            return False
        if self.statuses is not None and idx.status not in self.statuses:
            return False
        for lo, hi in self.ranges:
            if not (idx.last_update and lo <= idx.last_update <= hi):
                return False
        for name, tq in self.fields:
            if not tq.matches(getattr(idx, name)):
                return False
        if self.whole_text:
            lowered = body.lower()
            return all(tq.matches_bytes(lowered) for tq in self.whole_text)
        return True


def compile_query(params: Mapping[str, str]) -> CompiledQuery:
    """Validate /studies parameters and build the filter (raises ApiError for 400s).

    ``fields``, ``sort``, ``markupFormat``, ``filter.geo``, ``filter.synonyms``, ``aggFilters`` and
    ``geoDecay`` are accepted and ignored; results are always in nctId order.
    """
    cq = CompiledQuery()
    for prefix in ("filter.", "postFilter."):
        status_raw = params.get(prefix + "overallStatus")
        if status_raw is not None:
            values = _split_list(status_raw)
            if not values or any(v not in STATUSES for v in values):
                raise ApiError(400, "Invalid value in parameter overallStatus")
            cq.statuses = frozenset(values) if cq.statuses is None else cq.statuses & frozenset(values)
        ids_raw = params.get(prefix + "ids")
        if ids_raw is not None:
            ids = [normalize_nct(v) for v in _split_list(ids_raw)]
            if not ids or any(i is None for i in ids):
                raise ApiError(400, "Invalid value in parameter ids")
            found = frozenset(i for i in ids if i)
            cq.ids = found if cq.ids is None else cq.ids & found
    for name, value in params.items():
        if not (name.startswith("query.") or name in ("filter.advanced", "postFilter.advanced")):
            continue
        areas, value = area_clauses(value)
        cq.fields.extend(areas)
        ranges, tq = parse_text(value)
        cq.ranges.extend(ranges)
        if tq is None:
            continue
        target = _QUERY_FIELDS.get(name)
        if target:
            cq.fields.append((target, tq))
        else:
            cq.whole_text.append(tq)
    return cq


def check_known(params: Mapping[str, str], known: frozenset[str]) -> None:
    """400 with the real API's wording for the first unknown parameter."""
    for name in params:
        if name not in known:
            raise ApiError(400, f"`{name}` is unknown parameter")


def check_format(params: Mapping[str, str]) -> None:
    """Only JSON is faked."""
    fmt = params.get("format")
    if fmt is not None and fmt.lower() != "json":
        raise ApiError(400, f"Invalid value in parameter format: {fmt} (this fake serves json only)")


# ---- answers -------------------------------------------------------------------------------
JSON_TYPE = "application/json"
TEXT_TYPE = "text/plain; charset=utf-8"
HTML_TYPE = "text/html"
UNFAKED = frozenset({"metadata", "search-areas", "enums", "download"})  # real endpoints, not faked: 404
_REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Temporarily Unavailable",
            504: "Gateway Time-out", 404: "Not Found", 429: "Too Many Requests"}


def nginx_page(status: int) -> bytes:
    """An nginx-style HTML error page."""
    title = f"{status} {_REASONS.get(status, 'Error')}"
    return (f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1>"
            "</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n").encode()


@dataclass
class Response:
    """One HTTP answer: status, Content-Type, body and extra headers."""

    status: int
    ctype: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


def text_response(status: int, message: str) -> Response:
    """A plain-text answer, as the real API sends errors."""
    return Response(status, TEXT_TYPE, message.encode())


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def nct_of(study: Mapping[str, Any]) -> str:
    """The nctId of a v2 record (ValueError when missing or malformed)."""
    try:
        nct = study["protocolSection"]["identificationModule"]["nctId"]
    except (KeyError, TypeError):
        raise ValueError("study has no protocolSection.identificationModule.nctId") from None
    if not isinstance(nct, str) or normalize_nct(nct) != nct:
        raise ValueError(f"bad nctId {nct!r}")
    return nct


def page_response(page: list[bytes], total: int | None, next_token: str | None) -> Response:
    """A /studies page from pre-serialized studies; keys in the real order."""
    parts = [b'{"studies":[', b",".join(page), b"]"]
    if total is not None:
        parts.append(b',"totalCount":%d' % total)
    if next_token is not None:
        parts.append(b',"nextPageToken":"%s"' % next_token.encode())
    parts.append(b"}")
    return Response(200, JSON_TYPE, b"".join(parts))


def fault_response(kind: str, retry_after: int | str, normal: Response | None) -> Response:
    """What a fault of ``kind`` sends instead of ``normal`` (needed for "truncated" and "delay")."""
    if kind == "429":
        return Response(429, TEXT_TYPE, b"Too Many Requests", (("Retry-After", str(retry_after)),))
    if kind in ("500", "502", "503", "504"):
        return Response(int(kind), HTML_TYPE, nginx_page(int(kind)))
    if kind == "html":
        return Response(200, JSON_TYPE, nginx_page(502))
    if kind == "bad_token":
        return text_response(400, BAD_TOKEN_MESSAGE)
    if normal is None:
        raise ValueError(f"fault {kind!r} needs the normal answer")
    if kind == "truncated":
        return Response(200, JSON_TYPE, normal.body[: len(normal.body) // 2])
    return normal  # delay
