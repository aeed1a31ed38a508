"""One sync run: every configured search, page by page, into the database in a single transaction.

Full runs reconcile (studies no search finds any more are marked removed, after asking the API about each);
incremental runs add `AREA[LastUpdatePostDate]RANGE[<newest stored date - overlap>,MAX]` to every search.
If anything fails, the transaction rolls back, so studies, versions, locations and matches are as before the run;
only the sync_runs row remains, marked failed with the error.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import Connection, Engine
from tqdm import tqdm

from trialfinder.config import Config, SearchConfig
from trialfinder.ingest.canonical import fingerprint, loads_checked
from trialfinder.ingest.client import ApiClient, ApiError
from trialfinder.ingest.store import (
    Candidate,
    Change,
    StudyWriter,
    finish_run,
    newest_update_posted,
    start_run,
)
from trialfinder.models import last_succeeded_run, utcnow

log = logging.getLogger(__name__)

# Checking each missing study one by one costs a request (and min_interval_s) each; past this many the run
# marks them removed without asking, e.g. after a search was deleted from the config.
MAX_REMOVAL_CHECKS = 50

ChangeHandler = Callable[[Connection, int, Sequence[Change]], None]
# Every sync records change events; callers adding a handler pass (*DEFAULT_HANDLERS, theirs).
# While a run pauses the automatic cyclic GC, a young-generation collection every this many pages frees what little
# cyclic garbage the pages leave (a few dozen objects each), so memory stays bounded by one page.
GC_EVERY_PAGES = 10
# A page's studies are parsed, compared and written this many at a time, so the Python objects of at most this many
# records are alive at once (a page of 1000 real-shaped studies parsed whole is ~100 MB of objects).
PARSED_AT_ONCE = 100


class SyncFailed(Exception):
    """The sync run failed and was rolled back; the message says why."""


class SyncCancelled(Exception):
    """The sync was asked to stop (e.g. SIGTERM under the scheduler) and was rolled back."""


@dataclass(frozen=True)
class SyncResult:
    """The outcome of a run, for the one-line summary."""

    run_id: int
    mode: str
    seen: int
    new: int
    changed: int
    unchanged: int
    removed: int
    requests: int
    seconds: float

    def summary(self) -> str:
        """`sync full: 48 studies seen, 3 new, 2 changed, 43 unchanged, 0 removed; 4 requests; 2.1 s`."""
        return (
            f"sync {self.mode}: {self.seen} studies seen, {self.new} new, {self.changed} changed, "
            f"{self.unchanged} unchanged, {self.removed} removed; {self.requests} requests; {self.seconds:.1f} s"
        )


def choose_mode(engine: Engine, full: bool) -> tuple[str, str | None]:
    """('full', None), or ('incremental', since-date) when a previous run succeeded and `full` is not asked."""
    if full:
        return "full", None
    with engine.connect() as conn:
        if last_succeeded_run(conn) is None:
            return "full", None
        newest = newest_update_posted(conn)
    if not newest:
        return "full", None
    return "incremental", newest


def incremental_params(search: SearchConfig, since: str) -> dict[str, str]:
    """The search's parameters ANDed with the LastUpdatePostDate window (through filter.advanced)."""
    clause = f"AREA[LastUpdatePostDate]RANGE[{since},MAX]"
    params = dict(search.params)
    existing = params.get("filter.advanced")
    params["filter.advanced"] = f"({existing}) AND {clause}" if existing else clause
    return params


def run_sync(
    config: Config,
    engine: Engine,
    *,
    full: bool = False,
    progress: bool | None = None,
    client: ApiClient | None = None,
    handlers: Sequence[ChangeHandler] = (),
    stop: threading.Event | None = None,
) -> SyncResult:
    """Run one sync; raises SyncBusy if another runs, SyncFailed (after rolling back) if this one fails.

    `progress`: None shows tqdm bars only when stderr is a terminal. `handlers` see every page's changes inside
    the run's transaction (`run.sync` adds the recording of change events). `stop`, when set, ends
    the run at the next page with everything rolled back (SyncCancelled).
    """
    started = time.monotonic()
    mode, newest = choose_mode(engine, full)
    since = None
    if newest is not None:
        since = (dt.date.fromisoformat(newest[:10]) - dt.timedelta(days=config.sync.overlap_days)).isoformat()
    run_id = start_run(engine, mode)
    api = client or ApiClient(config.api)
    now = utcnow()
    writer: StudyWriter | None = None
    version: dict[str, Any] = {}
    try:
        version = api.version()
        with _automatic_gc_paused(), engine.begin() as conn:
            writer = StudyWriter(conn, run_id, now)
            _sync_searches(api, writer, config.searches, since, progress, handlers, stop)
            _check_stop(stop)
            if mode == "full":
                removed = writer.mark_removed(_removal_reasons(api, writer.missing_ids()))
                _notify(handlers, conn, run_id, removed)
            newest_after = newest_update_posted(conn)
    except BaseException as exc:
        reason = _describe(exc)
        finish_run(engine, run_id, status="failed", values={
            "error": reason, "requests": api.requests_made, "since_date": since, **_version_values(version)})
        if client is None:
            api.close()
        if isinstance(exc, SyncCancelled):
            raise
        if isinstance(exc, Exception):
            raise SyncFailed(f"sync failed, nothing was changed: {reason}") from exc
        raise
    if client is None:
        api.close()
    assert writer is not None
    counts = writer.counts
    finish_run(engine, run_id, status="succeeded", values={
        "requests": api.requests_made, "since_date": since, "newest_update_posted": newest_after,
        "studies_seen": counts.seen, "studies_new": counts.new, "studies_changed": counts.changed,
        "studies_unchanged": counts.unchanged, "studies_removed": counts.removed,
        "search_counts": counts.per_search, **_version_values(version),
    })  # fmt: skip
    return SyncResult(
        run_id, mode, counts.seen, counts.new, counts.changed, counts.unchanged, counts.removed,
        api.requests_made, time.monotonic() - started,
    )  # fmt: skip


def _sync_searches(
    api: ApiClient,
    writer: StudyWriter,
    searches: Sequence[SearchConfig],
    since: str | None,
    progress: bool | None,
    handlers: Sequence[ChangeHandler],
    stop: threading.Event | None = None,
) -> None:
    """Write every page of every search; a tqdm bar per search (total from countTotal) when `progress` allows."""
    plan = [(s.name, incremental_params(s, since) if since else dict(s.params)) for s in searches]
    bar: tqdm[Any] | None = None
    current: str | None = None
    try:
        for number, (name, page) in enumerate(api.iter_searches(plan), start=1):
            _check_stop(stop)
            if number % GC_EVERY_PAGES == 0:
                gc.collect(1)
            if name != current:
                _close_search(writer, current, bar)
                current = name
                bar = tqdm(desc=name, unit=" studies", disable=None if progress is None else not progress, leave=False)
                writer.counts.per_search[name] = {"total": None, "seen": 0}
            tally = writer.counts.per_search[name]
            if tally["total"] is None and page.total_count is not None:
                tally["total"] = page.total_count
                assert bar is not None
                bar.total = page.total_count
                bar.refresh()
            for start in range(0, len(page.studies), PARSED_AT_ONCE):
                chunk = page.studies[start:start + PARSED_AT_ONCE]
                candidates, recognised = _recognise(writer, chunk, name)
                changes = writer.write_page(name, candidates, recognised)
                _notify(handlers, writer.conn, writer.run_id, changes)
                del candidates, changes
            tally["seen"] = (tally["seen"] or 0) + len(page.studies)
            assert bar is not None
            bar.update(len(page.studies))
        _close_search(writer, current, bar)
    finally:
        if bar is not None:
            bar.close()


@contextlib.contextmanager
def _automatic_gc_paused() -> Iterator[None]:
    """Pause Python's automatic cyclic garbage collection for a run; it is switched back on after, if it was on.

    A page is ~100k freshly parsed containers, all acyclic and freed by reference counting, yet each counts toward
    automatic collections whose oldest generation walks every live object: ~25% of a first sync of 5000 studies and
    ~40% of an unchanged re-sync went there. `_sync_searches` collects the young generations every GC_EVERY_PAGES.
    """
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def _close_search(writer: StudyWriter, name: str | None, bar: tqdm[Any] | None) -> None:
    if name is None or bar is None:
        return
    bar.close()
    tally = writer.counts.per_search[name]
    log.info("search %s: %d studies (API total %s)", name, tally["seen"], tally["total"])


def _recognise(writer: StudyWriter, studies: list[Any], search_name: str) -> tuple[list[Candidate], list[str]]:
    """The page's studies to compare, and the stored ones recognised by the fingerprint of their raw bytes.

    A raw study whose fingerprint is stored is the same content as stored: it is never parsed. Every other one is
    parsed and goes through the exact comparison of content hashes (with its fingerprint, stored with it).
    """
    raw = [(fingerprint(bytes(item)), item) for item in studies if isinstance(item, msgspec.Raw)]
    known = writer.recognise([fp for fp, _ in raw])
    recognised = [known[fp] for fp, _ in raw if fp in known]
    parsed: list[tuple[Any, tuple[str | None, bool]]] = [
        (record, (fp, plain)) for fp, item in raw if fp not in known for record, plain in [loads_checked(bytes(item))]
    ]
    parsed += [(item, (None, False)) for item in studies if not isinstance(item, msgspec.Raw)]
    return _candidates([record for record, _ in parsed], search_name, [known for _, known in parsed]), recognised


def _candidates(
    records: list[Any], search_name: str, known: list[tuple[str | None, bool]] | None = None
) -> list[Candidate]:
    """Each record that can be stored, with its (raw fingerprint, floats_plain) from `known` when given."""
    out = []
    for number, record in enumerate(records):
        try:
            out.append(Candidate.of(record, *(known[number] if known else (None, False))))
        except (ValueError, AttributeError) as exc:
            # A record without an NCT id cannot be stored or compared; it is logged, never silently dropped.
            log.warning("search %s: skipped a record that cannot be stored: %s", search_name, exc)
    return out


def _removal_reasons(api: ApiClient, missing: list[str]) -> dict[str, str]:
    """Why each study no search found any more is gone: deleted (404), merged into another id (301), or moved."""
    if len(missing) > MAX_REMOVAL_CHECKS:
        log.warning("%d studies no longer found; marking them removed without checking each", len(missing))
        return dict.fromkeys(missing, "no longer found by the searches")
    reasons = {}
    for nct_id in missing:
        try:
            record = api.get_study(nct_id)
        except ApiError as exc:
            log.warning("could not check %s: %s", nct_id, exc)
            record = {}
        if record is None:
            reasons[nct_id] = "no longer on ClinicalTrials.gov"
            continue
        current_id = (record.get("protocolSection") or {}).get("identificationModule", {}).get("nctId")
        if current_id and current_id != nct_id:
            reasons[nct_id] = f"now listed as {current_id}"
        else:
            reasons[nct_id] = "no longer found by the searches"
    return reasons


def _check_stop(stop: threading.Event | None) -> None:
    if stop is not None and stop.is_set():
        raise SyncCancelled("stopped on request; nothing was changed")


def _notify(handlers: Sequence[ChangeHandler], conn: Connection, run_id: int, changes: Sequence[Change]) -> None:
    if changes:
        for handler in handlers:
            handler(conn, run_id, changes)


def _version_values(version: dict[str, Any]) -> dict[str, Any]:
    return {"api_version": version.get("apiVersion"), "data_timestamp": version.get("dataTimestamp")}


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SyncCancelled):
        return "stopped on request"
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, SystemExit):
        return "stopped by a signal"
    return str(exc) or type(exc).__name__
