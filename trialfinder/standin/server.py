"""The stand-in ClinicalTrials.gov API v2: NOT the real registry, a server of our own (stdlib only) for the tests
and `trialfinder demo`.

``FakeCtGov`` runs a real HTTP/1.1 server on 127.0.0.1 in a background thread and serves
``/api/v2/version``, ``/api/v2/studies`` and ``/api/v2/studies/{nctId}`` from an in-memory
world of v2 study records, following shared/ctgov/API_FACTS.md. It also records every
request and can inject faults (429/5xx, resets, delays, truncated or HTML bodies).

Decisions (the real API leaves these open):
- Studies are always served in nctId order; ``sort`` is ignored, as are ``fields``,
  ``markupFormat``, ``filter.geo``, ``filter.synonyms``, ``aggFilters`` and ``geoDecay``.
- When the matches are an exact multiple of pageSize, the last full page carries no
  nextPageToken (no empty final page) unless ``empty_last_page`` is set to True, in which
  case one more page with ``"studies":[]`` is served, which the real API allows.
- Page tokens are unpadded base64url of ``{"o": offset, "h": params-hash}``; a token that does
  not decode, or was issued for other parameters, gets 400 ``Invalid value in parameter pageToken``.
- Only JSON is served: any other ``format`` gets 400.
- Search is a substring stand-in for Essie, see ``trialfinder/standin/query.py``; the real rule
  "a query of only NCT ids disables filters" is not implemented.
- Requests are logged on arrival (a "delay" request before its sleep, with the status it will
  get; a "reset" request with status 0). A "delay" answer is computed on arrival.

The HTTP plumbing (the threaded server and its request handler) is in ``trialfinder/standin/http.py``.

Beyond the agreed interface: ``after_page(n, fn)`` (the data set changes between pages),
``put_many(studies)`` (bulk put, accepts a generator),
``empty_last_page`` (bool), ``connections_accepted`` (int) and ``api_version`` (settable).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from trialfinder.standin.http import API_PREFIX, StandinServer
from trialfinder.standin.query import (
    HTML_TYPE,
    JSON_TYPE,
    KNOWN_STUDIES_PARAMS,
    KNOWN_STUDY_PARAMS,
    TEXT_TYPE,
    UNFAKED,
    ApiError,
    CompiledQuery,
    Response,
    StudyIndex,
    build_index,
    check_format,
    check_known,
    compile_query,
    decode_token,
    dumps,
    encode_token,
    nct_of,
    nginx_page,
    normalize_nct,
    page_response,
    params_hash,
    parse_bool,
    parse_page_size,
    text_response,
)

FAULT_KINDS = frozenset({"429", "500", "502", "503", "504", "reset", "delay", "truncated", "html", "bad_token"})


@dataclass
class LoggedRequest:
    """One request as the fake saw it; ``path`` has no /api/v2 prefix."""

    method: str
    path: str
    params: dict[str, str]
    status: int


@dataclass
class _Fault:
    kind: str
    remaining: int
    path: str
    retry_after: int | str
    delay_s: float


class FakeCtGov:
    """The fake API server and its world of studies. Use as a context manager or start()/stop()."""

    def __init__(self, studies: Iterable[dict[str, Any]] = (), *, api_version: str = "2.0.5",
                 data_timestamp: str = "2026-11-20T09:00:05") -> None:
        self.api_version = api_version
        self.data_timestamp = data_timestamp
        self.today = "2026-11-20"
        self.empty_last_page = False
        self.requests: list[LoggedRequest] = []
        self.connections_accepted = 0  # TCP connections accepted so far (keep-alive checks)
        self.base_url = ""
        self._lock = threading.Lock()
        self._bodies: dict[str, bytes] = {}
        self._index: dict[str, StudyIndex] = {}
        self._aliases: dict[str, str] = {}
        self._sorted: list[str] | None = []
        self._version = 0
        self._cache: dict[str, list[bytes]] = {}
        self._cache_version = -1
        self._faults: list[_Fault] = []
        self._page_hooks: list[tuple[int, Callable[[FakeCtGov], None]]] = []
        self._pages_served = 0
        self._stopping = threading.Event()
        self._server: StandinServer | None = None
        self._thread: threading.Thread | None = None
        self.put_many(studies)

    # ---- lifecycle -------------------------------------------------------------------------
    def start(self) -> FakeCtGov:
        """Bind 127.0.0.1 on a free port and serve in a daemon thread."""
        if self._server is not None:
            return self
        self._stopping.clear()
        server = StandinServer(("127.0.0.1", 0))
        server.fake = self
        self._server = server
        port = server.server_address[1]
        self.base_url = f"http://127.0.0.1:{port}{API_PREFIX}"
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"FakeCtGov:{port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and drop open keep-alive connections."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.close_all_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeCtGov:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- the world -------------------------------------------------------------------------
    def _store(self, study: dict[str, Any]) -> None:
        nct = nct_of(study)
        if nct not in self._bodies:
            self._sorted = None
        self._bodies[nct] = dumps(study)
        self._index[nct] = build_index(study, nct)
        self._version += 1

    def put(self, study: dict[str, Any]) -> None:
        """Add or replace a study (keyed by its nctId). The fake keeps its own copy."""
        with self._lock:
            self._store(study)

    def put_many(self, studies: Iterable[dict[str, Any]]) -> None:
        """put() for many studies under one lock acquisition (fast for big worlds)."""
        with self._lock:
            for study in studies:
                self._store(study)

    def remove(self, nct_id: str) -> None:
        """Delete a study (KeyError if absent)."""
        with self._lock:
            del self._bodies[nct_id]
            del self._index[nct_id]
            self._sorted = None
            self._version += 1

    def get(self, nct_id: str) -> dict[str, Any]:
        """A deep copy of the stored study (KeyError if absent)."""
        with self._lock:
            body = self._bodies[nct_id]
        result: dict[str, Any] = json.loads(body)
        return result

    def update(self, nct_id: str, fn: Callable[[dict[str, Any]], None]) -> None:
        """Let ``fn`` mutate the stored study. Unless ``fn`` changed (or replaced)
        statusModule.lastUpdatePostDateStruct, its date is set to ``today``."""
        with self._lock:
            study: dict[str, Any] = json.loads(self._bodies[nct_id])
            status = study.setdefault("protocolSection", {}).setdefault("statusModule", {})
            struct_before = status.get("lastUpdatePostDateStruct")
            date_before = struct_before.get("date") if isinstance(struct_before, dict) else None
            fn(study)
            status = study.setdefault("protocolSection", {}).setdefault("statusModule", {})
            struct_after = status.get("lastUpdatePostDateStruct")
            unchanged = struct_after is struct_before and (
                not isinstance(struct_after, dict) or struct_after.get("date") == date_before)
            if unchanged:
                if isinstance(struct_after, dict):
                    struct_after["date"] = self.today
                else:
                    status["lastUpdatePostDateStruct"] = {"date": self.today, "type": "ACTUAL"}
            new_id = nct_of(study)
            if new_id != nct_id:
                del self._bodies[nct_id]
                del self._index[nct_id]
                self._sorted = None
            self._store(study)

    def add_alias(self, alias: str, nct_id: str) -> None:
        """GET /studies/{alias} answers 301 to the study; filter.ids=alias finds it too."""
        norm = normalize_nct(alias)
        if norm is None:
            raise ValueError(f"bad alias {alias!r}")
        with self._lock:
            self._aliases[norm] = nct_id
            self._version += 1

    @property
    def nct_ids(self) -> list[str]:
        """Ids of all stored studies, sorted."""
        with self._lock:
            return list(self._ordered())

    def _ordered(self) -> list[str]:
        if self._sorted is None:
            self._sorted = sorted(self._bodies)
        return self._sorted

    # ---- log and faults ----------------------------------------------------------------
    def clear_log(self) -> None:
        with self._lock:
            self.requests.clear()

    def fail_next(self, kind: str, times: int = 1, *, path: str = "/studies", retry_after: int | str = 1,
                  delay_s: float = 3.0) -> None:
        """Answer the next ``times`` requests whose path starts with ``path`` with fault ``kind`` (a 429's
        ``retry_after`` is sent as given: seconds, or an HTTP-date string)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {sorted(FAULT_KINDS)}")
        with self._lock:
            self._faults.append(_Fault(kind, times, path, retry_after, delay_s))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._page_hooks.clear()

    def after_page(self, n: int, fn: Callable[[FakeCtGov], None]) -> None:
        """Run ``fn(self)`` once, right after the ``n``-th successful /studies answer from now: the data set moves
        between two page requests, as ClinicalTrials.gov's does during its weekday refreshes. Page tokens hold an
        offset, so a study removed before it makes the next page start one study later (one is never served)."""
        with self._lock:
            self._page_hooks.append((self._pages_served + n, fn))

    def _page_served(self) -> None:
        with self._lock:
            self._pages_served += 1
            due = [fn for at, fn in self._page_hooks if at == self._pages_served]
            self._page_hooks = [(at, fn) for at, fn in self._page_hooks if at != self._pages_served]
        for fn in due:
            fn(self)

    def _take_fault(self, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.remaining > 0 and path.startswith(fault.path):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _log(self, method: str, path: str, params: dict[str, str], status: int) -> None:
        with self._lock:
            self.requests.append(LoggedRequest(method, path, params, status))

    # ---- answers -----------------------------------------------------------------------
    def _respond(self, path: str, query: str, params: dict[str, str]) -> Response:
        """The normal (fault-free) answer to GET ``path`` (which has no /api/v2 prefix)."""
        try:
            if path == "/version":
                body = {"apiVersion": self.api_version, "dataTimestamp": self.data_timestamp}
                return Response(200, JSON_TYPE, dumps(body))
            if path == "/studies":
                return self._studies(params)
            raw_id = path[len("/studies/"):] if path.startswith("/studies/") else ""
            if raw_id and "/" not in raw_id and raw_id not in UNFAKED:
                return self._study(raw_id, query, params)
        except ApiError as err:
            return text_response(err.status, err.message)
        return Response(404, HTML_TYPE, nginx_page(404))

    def _study(self, raw_id: str, query: str, params: dict[str, str]) -> Response:
        check_known(params, KNOWN_STUDY_PARAMS)
        check_format(params)
        nct = normalize_nct(raw_id)
        if nct is None:
            return text_response(400, f"Invalid NCT ID: {raw_id}")
        with self._lock:
            body = self._bodies.get(nct)
            target = self._aliases.get(nct)
            if body is None and target is None:
                target = next((i.nct_id for i in self._index.values() if nct in i.aliases), None)
        if body is not None:
            return Response(200, JSON_TYPE, body)
        if target is not None:
            location = f"{API_PREFIX}/studies/{target}" + (f"?{query}" if query else "")
            return Response(301, TEXT_TYPE, b"", (("Location", location),))
        return text_response(404, f"Study {nct} not found")

    def _studies(self, params: dict[str, str]) -> Response:
        check_known(params, KNOWN_STUDIES_PARAMS)
        check_format(params)
        size = parse_page_size(params.get("pageSize"))
        count_total = parse_bool("countTotal", params.get("countTotal"))
        phash = params_hash(params)
        token = params.get("pageToken")
        offset = decode_token(token, phash) if token is not None else 0
        query = compile_query(params)
        with self._lock:
            matched = self._matches(phash, query)
            page = matched[offset:offset + size]
            total = len(matched)
        end = offset + len(page)
        more = end < total or (self.empty_last_page and bool(page) and end == total)
        return page_response(page, total if count_total and token is None else None,
                             encode_token(end, phash) if more else None)

    def _matches(self, phash: str, query: CompiledQuery) -> list[bytes]:
        # Caller holds the lock. Matches are cached per parameter set until the world changes.
        if self._cache_version != self._version:
            self._cache = {}
            self._cache_version = self._version
        cached = self._cache.get(phash)
        if cached is None:
            ids = query.ids
            if ids is not None:
                ids = ids | {real for alias, real in self._aliases.items() if alias in ids}
                query.ids = ids
            cached = [self._bodies[n] for n in self._ordered() if query.matches(self._index[n], self._bodies[n])]
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[phash] = cached
        return cached
