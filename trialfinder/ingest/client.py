"""HTTP client for ClinicalTrials.gov API v2: paging, retries with backoff, a polite minimum interval, /version.

Retryable: connection errors, timeouts, 429 (honouring Retry-After), 500/502/503/504, and a 200 whose body is not
JSON (truncated, or an HTML error page). Never retried: 400 and 404, whose plain-text message is quoted in the error,
and a host name that does not resolve (no DNS, no network: retrying only makes a newcomer wait). When the API cannot
be reached at all, the error says so and points at `trialfinder demo`, which works offline.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
import random
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec
import requests

from trialfinder.config import ApiConfig
from trialfinder.ingest.canonical import fingerprint
from trialfinder.ingest.readahead import ReadAhead

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
# Pages fetched ahead of the caller: with two, the caller holds one and the next downloads (see ReadAhead).
PAGES_AHEAD = 2
# A body is read in pieces of this size: requests' own `.content` reads 10 KiB at a time, ~3,000 Python-level reads
# for a 30 MB page, each one waiting for the GIL while the sync works on the page before (5 ms each at worst).
BODY_PIECE_BYTES = 1 << 20
MAX_RETRY_AFTER_S = 300.0
MAX_BACKOFF_S = 60.0
DEMO_HINT = "to see trialfinder work offline, run `trialfinder demo`"


class ApiError(Exception):
    """The API refused the request (400/404, `status` set) or kept failing after every retry (`status` None)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Page:
    """One page of GET /studies: each study as its raw JSON bytes (a msgspec.Raw slice of the page, not parsed),
    or as a parsed dict when the page needed the stdlib parser (see split_page); and, study by study, the
    fingerprint of its raw bytes (canonical.fingerprint; None for a parsed one)."""

    studies: list[Any]
    total_count: int | None
    next_page_token: str | None
    _prints: list[str | None] | None = field(default=None, repr=False, compare=False)
    _hashing: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def fingerprints(self) -> list[str | None]:
        """Each study's fingerprint, computed once by the first thread to ask: the read-ahead thread while it waits
        for the caller to let a page go (`hash_if_free`), else the caller; the read-ahead thread never waits here."""
        with self._hashing:
            return self._computed()

    def hash_if_free(self) -> None:
        if self._hashing.acquire(blocking=False):
            try:
                self._computed()
            finally:
                self._hashing.release()

    def _computed(self) -> list[str | None]:
        if self._prints is None:  # the one field set after the page is made
            prints = [fingerprint(bytes(item)) if isinstance(item, msgspec.Raw) else None for item in self.studies]
            object.__setattr__(self, "_prints", prints)
        assert self._prints is not None
        return self._prints

    def records(self) -> list[Any]:
        """Every study of the page parsed (the stdlib parser, as a sync parses a study it does not recognise)."""
        return [json.loads(bytes(item)) if isinstance(item, msgspec.Raw) else item for item in self.studies]


@dataclass
class ApiClient:
    """A requests.Session wrapper that counts its requests; one per sync run."""

    config: ApiConfig
    session: requests.Session = field(default_factory=requests.Session)
    sleep: Callable[[float], None] = time.sleep
    requests_made: int = 0
    _last_request_at: float | None = None
    # What open_early started: the pages of its searches, fetching, and GET /version's answer (or its error).
    _early_plan: list[tuple[str, dict[str, str]]] | None = field(default=None, repr=False)
    _early_pages: ReadAhead[tuple[str, Page]] | None = field(default=None, repr=False)
    _early_version: Any = field(default=None, repr=False)
    _version_fetched: threading.Event = field(default_factory=threading.Event, repr=False)
    # every reader handed out, closed by close()
    _readers: list[ReadAhead[tuple[str, Page]]] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self.session.headers["User-Agent"] = self.config.user_agent_header
        self.session.headers["Accept"] = "application/json"

    def close(self) -> None:
        """Stop open_early's fetching if it still runs, and close the pooled connections."""
        self._drop_early()
        for reader in self._readers:
            reader.close()
        self._readers.clear()
        self.session.close()

    def _drop_early(self) -> None:
        """Stop open_early's pages (not taken by iter_searches); its /version answer stays for version() if got."""
        if self._early_pages is not None:
            self._early_pages.close()
            self._early_pages = None
        if not self._version_fetched.is_set():
            self._early_plan = None  # it never asked: version() asks itself

    def open_early(self, searches: Iterable[tuple[str, dict[str, str]]] = ()) -> None:
        """Send GET /version, then fetch the pages of `searches` (name, params) as `iter_searches` does, from a
        thread now, while the caller opens its database: `version` and `iter_searches` (for these same searches)
        then take what it got, an error it met raised there as if met there. Two pages ahead at most, as ever."""
        self._drop_early()
        self._early_plan = list(searches)
        self._version_fetched.clear()
        self._early_version = None
        self._early_pages = ReadAhead(self._early_source(self._early_plan), PAGES_AHEAD, _hash_page)

    def _early_source(self, plan: list[tuple[str, dict[str, str]]]) -> Iterator[tuple[str, Page]]:
        try:
            self._early_version = self._version()
        except BaseException as exc:  # raised by version(), in the caller's thread (and by the pages, if taken)
            self._early_version = exc
            raise
        finally:
            self._version_fetched.set()
        yield from self._pages(plan)

    def version(self) -> dict[str, Any]:
        """GET /version: {"apiVersion": ..., "dataTimestamp": ...} (open_early's answer when it got one)."""
        if self._early_plan is None or self._early_version is _TAKEN:
            return self._version()
        self._version_fetched.wait()
        found, self._early_version = self._early_version, _TAKEN
        if isinstance(found, BaseException):
            raise found
        assert isinstance(found, dict)
        return found

    def _version(self) -> dict[str, Any]:
        data = self.get_json("/version")
        if not isinstance(data, dict) or "apiVersion" not in data:
            raise ApiError(f"unexpected /version answer: {str(data)[:200]}")
        return data

    def get_study(self, nct_id: str) -> dict[str, Any] | None:
        """GET /studies/{nctId}, following the 301 an alias gets; None when the API says 404."""
        try:
            data = self.get_json(f"/studies/{nct_id}")
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        if not isinstance(data, dict):
            raise ApiError(f"unexpected answer for {nct_id}: not a study object")
        return data

    def iter_pages(self, params: dict[str, str]) -> Iterator[Page]:
        """Every page of GET /studies for `params`: same parameters on each page, countTotal asked on page 1."""
        page = self._page(params, None)
        while page.next_page_token is not None:
            yield page
            page = self._page(params, page.next_page_token)
        yield page

    def _page(self, params: dict[str, str], token: str | None) -> Page:
        """One page of GET /studies (the first when `token` is None)."""
        query = {**params, "format": "json", "pageSize": str(self.config.page_size), "countTotal": "true"}
        if token is not None:
            query["pageToken"] = token
        studies, total, next_token = self._get("/studies", query, split_page)
        total = total if isinstance(total, int) and not isinstance(total, bool) else None
        return Page(studies, total, next_token or None)

    def iter_searches(self, searches: Iterable[tuple[str, dict[str, str]]]) -> Iterator[tuple[str, Page]]:
        """(name, page) for every page of every search, in order; the next page downloads while the caller works.

        One background thread does the HTTP (and the min_interval_s wait) ahead of the caller and splits each body
        into per-study byte slices without building Python objects: at most two pages are alive (ReadAhead). An
        error in the thread is raised here, at the page it stopped; closing the iterator stops it. The pages
        open_early already fetches for the same searches are taken over.
        """
        plan = list(searches)
        if self._early_pages is not None and plan == self._early_plan:
            reader, self._early_pages = self._early_pages, None
        else:
            self._drop_early()
            reader = ReadAhead(self._pages(plan), PAGES_AHEAD, _hash_page)
        self._readers.append(reader)
        return iter(reader)

    def _pages(self, plan: list[tuple[str, dict[str, str]]]) -> Iterator[tuple[str, Page]]:
        return ((name, page) for name, params in plan for page in self.iter_pages(params))

    def get_json(self, path: str, params: dict[str, str] | None = None) -> Any:
        """GET base_url+path and parse JSON, retrying transient faults up to max_retries times."""
        return self._get(path, params, json.loads)

    def _get(self, path: str, params: dict[str, str] | None, decode: Callable[[bytes], Any]) -> Any:
        """GET base_url+path and `decode` the body; a ValueError from `decode` (not JSON) is retried."""
        url = self.config.base_url.rstrip("/") + path
        attempt = 0
        while True:
            self._wait_turn()
            self.requests_made += 1
            delay: float | None = None
            unreachable = False
            try:
                response = self.session.get(url, params=params, timeout=self.config.timeout_s, stream=True)
                body = _read_body(response)
            except requests.ConnectionError as exc:
                if _name_not_resolved(exc):  # DNS: no retry fixes it soon enough to be worth the wait
                    raise ApiError(self._unreachable("its host name does not resolve")) from None
                problem, unreachable = f"{type(exc).__name__}: {exc}", True
            except requests.Timeout as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                status = response.status_code
                if status in RETRYABLE_STATUS:
                    problem = f"HTTP {status}"
                    delay = _retry_after(response.headers.get("Retry-After")) if status == 429 else None
                elif status >= 400:
                    raise _refused(status, path, body.decode("utf-8", "replace"))
                else:
                    try:
                        return decode(body)
                    except ValueError:
                        kind = response.headers.get("Content-Type", "?")
                        problem = f"body is not valid JSON ({len(body)} bytes, {kind})"
            attempt += 1
            if attempt > self.config.max_retries:
                message = f"GET {path} failed after {attempt} attempts: {problem}"
                raise ApiError(self._unreachable(message) if unreachable else message)
            wait = delay if delay is not None else self._backoff(attempt)
            log.warning("GET %s: %s; retry %d/%d in %.1f s", path, problem, attempt, self.config.max_retries, wait)
            self.sleep(wait)

    def _unreachable(self, why: str) -> str:
        return f"cannot reach {self.config.base_url} ({why}); {DEMO_HINT}"

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with full jitter: uniform(0.5, 1.0) x backoff_s x 2^(attempt-1), capped."""
        return min(MAX_BACKOFF_S, self.config.backoff_s * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)

    def _wait_turn(self) -> None:
        now = time.monotonic()
        if self._last_request_at is not None:
            gap = self.config.min_interval_s - (now - self._last_request_at)
            if gap > 0:
                self.sleep(gap)
        self._last_request_at = time.monotonic()


class _PageShape(msgspec.Struct):
    studies: list[msgspec.Raw]
    totalCount: Any = None
    nextPageToken: Any = None


_PAGE = msgspec.json.Decoder(_PageShape)


def split_page(body: bytes) -> tuple[list[Any], Any, Any]:
    """(studies, totalCount, nextPageToken) of a /studies body; each study a msgspec.Raw slice of `body`.

    msgspec checks the whole body is JSON without building objects for the studies. A body it refuses that the
    stdlib parser takes (a lone surrogate escape) is parsed by the stdlib, its studies then dicts. ValueError when
    the body is not JSON at all; ApiError when it has no "studies" list.
    """
    try:
        shape = _PAGE.decode(body)
    except msgspec.ValidationError:
        raise ApiError("unexpected /studies answer: no 'studies' list") from None
    except msgspec.DecodeError:
        data = json.loads(body)
        if not isinstance(data, dict) or not isinstance(data.get("studies"), list):
            raise ApiError("unexpected /studies answer: no 'studies' list") from None
        return data["studies"], data.get("totalCount"), data.get("nextPageToken")
    return shape.studies, shape.totalCount, shape.nextPageToken


def _name_not_resolved(exc: BaseException) -> bool:
    """Whether a connection error comes from a host name that did not resolve (socket.gaierror anywhere in the
    chain requests and urllib3 wrap it in)."""
    seen: set[int] = set()
    todo: list[object] = [exc]
    while todo:
        item = todo.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, socket.gaierror) or type(item).__name__ == "NameResolutionError":
            return True
        todo.extend([*item.args, getattr(item, "reason", None), item.__cause__, item.__context__])
    return False


def _retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """Retry-After in seconds (RFC 9110: a number of seconds or an HTTP-date), capped; None when unreadable."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None  # neither: our own backoff
        if when.tzinfo is None:  # RFC 9110 dates are GMT
            when = when.replace(tzinfo=dt.UTC)
        seconds = when.timestamp() - now()
    if seconds != seconds:  # NaN
        return None
    return min(MAX_RETRY_AFTER_S, max(0.0, seconds))


def _read_body(response: requests.Response) -> bytes:
    """The whole body of a streamed response, read BODY_PIECE_BYTES at a time (the connection goes back to the pool;
    a broken body raises what requests' `.content` raises)."""
    try:
        return b"".join(response.iter_content(BODY_PIECE_BYTES))
    finally:
        response.close()


def _hash_page(item: tuple[str, Page]) -> None:
    """The read-ahead thread's work while it waits for the caller: the fingerprints of the page it gets next."""
    item[1].hash_if_free()


def _refused(status: int, path: str, body: str) -> ApiError:
    message = " ".join(body.split())[:300] or "(empty body)"
    return ApiError(f"ClinicalTrials.gov refused GET {path} (HTTP {status}): {message}", status)


_TAKEN = object()
