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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine
from tqdm import tqdm

from trialfinder.config import Config, SearchConfig
from trialfinder.db import big_transaction
from trialfinder.ingest.canonical import loads_checked
from trialfinder.ingest.client import ApiClient
from trialfinder.ingest.pipeline import ChangeHandler, ChunkWriter
from trialfinder.ingest.reconcile import check_missing, removal_gate
from trialfinder.ingest.records import Candidate, Change, Recognised
from trialfinder.ingest.runs import finish_run, start_run
from trialfinder.ingest.store import StudyWriter, newest_update_posted
from trialfinder.models import last_succeeded_run, utcnow

log = logging.getLogger(__name__)

# ChangeHandler: every sync records change events; callers adding a handler pass (*DEFAULT_HANDLERS, theirs).
# While a run pauses the automatic cyclic GC, a young-generation collection every this many pages frees what little
# cyclic garbage the pages leave (a few dozen objects each), so memory stays bounded by one page.
GC_EVERY_PAGES = 10
# A page's studies are parsed, compared and written this many at a time, and one such chunk is written while the
# next is parsed (ingest.pipeline), so the Python objects of at most twice this many records are alive at once (a
# page of 1000 real-shaped studies parsed whole is ~100 MB of objects).
PARSED_AT_ONCE = 50
# Studies recognised by their fingerprint (not parsed: only slices of the page) are written this many at a time:
# the statements of a write then cover hundreds of rows, not fifty (a fifth of an unchanged re-sync went to them).
RECOGNISED_AT_ONCE = 500


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
    skipped: int = 0
    kept: int = 0
    unchecked: int = 0

    def summary(self) -> str:
        """`sync full: 48 studies seen, 3 new, 2 changed, 43 unchanged, 0 removed; 4 requests; 2.1 s`, then what
        needs a look when there is any: records skipped, studies missed by paging and kept, checks left for later."""
        text = (
            f"sync {self.mode}: {self.seen} studies seen, {self.new} new, {self.changed} changed, "
            f"{self.unchanged} unchanged, {self.removed} removed; {self.requests} requests; {self.seconds:.1f} s"
        )
        notes = [
            f"{self.skipped} records skipped (they could not be stored; retried next run)" if self.skipped else "",
            f"{self.kept} studies missed by paging and kept (the API still has them)" if self.kept else "",
            f"{self.unchecked} removal checks failed (left as they were; checked again next run)"
            if self.unchecked else "",
        ]
        return "; ".join([text, *[note for note in notes if note]])


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
    outcome = _Reconciled()
    try:
        version = api.version()
        with _automatic_gc_paused(), big_transaction(engine) as conn:
            retry = _previous_retry(conn)
            writer = StudyWriter(conn, run_id, now)
            _sync_searches(api, writer, config.searches, since, progress, handlers, stop)
            _check_stop(stop)
            outcome = _reconcile(api, writer, config, mode == "full", retry, handlers)
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
        "studies_skipped": counts.skipped, "retry": outcome.retry(writer),
    })  # fmt: skip
    return SyncResult(
        run_id, mode, counts.seen, counts.new, counts.changed, counts.unchanged, counts.removed,
        api.requests_made, time.monotonic() - started, counts.skipped, outcome.kept, len(outcome.unchecked),
    )  # fmt: skip


@dataclass
class _Reconciled:
    """What the removal checks of a run left: studies kept as missed by paging, ids to check again next run."""

    kept: int = 0
    unchecked: list[str] = field(default_factory=list)

    def retry(self, writer: StudyWriter) -> dict[str, Any] | None:
        """The sync_runs.retry value: the records skipped and the removal checks the next run does again."""
        if not writer.skipped and not self.unchecked:
            return None
        return {"skipped": list(writer.skipped.values()), "unchecked": self.unchecked}


def _previous_retry(conn: Connection) -> dict[str, Any]:
    """What the last succeeded run left for this one to try again."""
    previous = last_succeeded_run(conn)
    retry = getattr(previous, "retry", None) if previous is not None else None
    return retry if isinstance(retry, dict) else {}


def _reconcile(
    api: ApiClient,
    writer: StudyWriter,
    config: Config,
    full: bool,
    retry: dict[str, Any],
    handlers: Sequence[ChangeHandler],
) -> _Reconciled:
    """Prove removals (full runs: every study not seen; any run: what the last one could not check or store).

    Studies the API still finds are written as seen (missed by paging); proven removals pass the sanity gate and
    are marked; failed checks are kept for the next run.
    """
    listed = [item.get("nct_id") for item in retry.get("skipped", []) if isinstance(item, dict)]
    retry_ids = {nct_id for nct_id in [*listed, *retry.get("unchecked", [])] if isinstance(nct_id, str)}
    retry_ids -= set(writer.seen_in_run(sorted(retry_ids))) | set(writer.skipped)
    missing = set(writer.missing_ids()) if full else set()
    to_check = sorted(missing | retry_ids)
    verdicts = check_missing(api, config.searches, to_check)
    outcome = _Reconciled()
    for search_name, record in verdicts.found:
        changes = writer.write_page(search_name, _candidates([record], search_name))
        _notify(handlers, writer.conn, writer.run_id, changes)
        nct_id = _found_id(record)
        if nct_id in missing:
            outcome.kept += 1
            log.warning("%s was missed by paging (search %s still finds it); kept", nct_id, search_name)
    stored = set(writer.unseen_stored(to_check))
    removed = {nct_id: reason for nct_id, reason in verdicts.removed.items() if nct_id in stored}
    removal_gate(writer.conn, config.searches, list(removed), config.sync.max_removed_share)
    _notify(handlers, writer.conn, writer.run_id, writer.mark_removed(removed))
    outcome.unchecked = [nct_id for nct_id in verdicts.unchecked if nct_id in stored]
    return outcome


def _found_id(record: dict[str, Any]) -> str | None:
    try:
        return Candidate.of(record).nct_id
    except (ValueError, AttributeError):
        return None


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
        with ChunkWriter(writer, handlers) as chunks:
            for number, (name, page) in enumerate(api.iter_searches(plan), start=1):
                _check_stop(stop)
                if number % GC_EVERY_PAGES == 0:
                    gc.collect(1)
                if name != current:
                    _close_search(writer, current, bar)
                    current = name
                    bar = tqdm(desc=name, unit=" studies", disable=None if progress is None else not progress,
                               leave=False)  # fmt: skip
                    writer.counts.per_search[name] = {"total": None, "seen": 0}
                tally = writer.counts.per_search[name]
                if tally["total"] is None and page.total_count is not None:
                    tally["total"] = page.total_count
                    assert bar is not None
                    bar.total = page.total_count
                    bar.refresh()
                prints = list(zip(page.fingerprints, page.studies, strict=True))
                known = chunks.recognise([fp for fp, _ in prints if fp is not None])
                same, rest = _sort_out(prints, known)
                for start in range(0, len(same), RECOGNISED_AT_ONCE):
                    chunks.write(name, [], same[start:start + RECOGNISED_AT_ONCE])
                for start in range(0, len(rest), PARSED_AT_ONCE):
                    candidates = _parsed(rest[start:start + PARSED_AT_ONCE], name)
                    chunks.write(name, candidates, [])
                    del candidates
                del same, rest
                tally["seen"] = (tally["seen"] or 0) + len(page.studies)
                assert bar is not None
                bar.update(len(page.studies))
                del prints, known
            chunks.finish()
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


def _sort_out(
    prints: list[tuple[str | None, Any]], known: dict[str, str]
) -> tuple[list[Recognised], list[tuple[str | None, Any]]]:
    """The studies recognised by a stored fingerprint of their raw bytes (`known`), and the rest (to parse).

    A raw study whose fingerprint is stored is the same content as stored: it is not parsed (the writer checks the
    stored fingerprint again when it writes). Every other one is parsed and goes through the exact comparison of
    content hashes (with its fingerprint, stored with it).
    """
    recognised = [Recognised(known[fp], fp, item) for fp, item in prints if fp is not None and fp in known]
    return recognised, [(fp, item) for fp, item in prints if fp is None or fp not in known]


def _parsed(prints: list[tuple[str | None, Any]], search_name: str) -> list[Candidate]:
    """Candidates of studies not recognised: raw ones parsed (with their fingerprint), parsed ones as they are."""
    parsed: list[tuple[Any, tuple[str | None, bool]]] = [
        (record, (fp, plain)) for fp, item in prints if fp is not None for record, plain in [loads_checked(bytes(item))]
    ]
    parsed += [(item, (None, False)) for fp, item in prints if fp is None]
    return _candidates([record for record, _ in parsed], search_name, [given for _, given in parsed])


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
