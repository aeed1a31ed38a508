"""Writes to the database: the `sync` lease, sync-run rows, and studies with a version row only when the hash changes.

`StudyWriter` works inside the caller's transaction (one per sync run) a page at a time, with set-based SQL:
one SELECT for the page's existing rows, then executemany inserts (bulk.insert_rows) and updates. Plain SQLAlchemy
Core, portable.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import OperationalError

from trialfinder.ingest.bulk import insert_rows
from trialfinder.ingest.normalize import Normalized, canonical_json_and_hash, nct_id_of, normalize
from trialfinder.leases import DEFAULT_TTL_S, Lease, LeaseBusy, acquire, leases
from trialfinder.models import Study, StudyLocation, StudySearch, StudyVersion, SyncRun, table_of, utcnow

studies = table_of(Study)
versions = table_of(StudyVersion)
locations = table_of(StudyLocation)
searches = table_of(StudySearch)
runs = table_of(SyncRun)


class SyncBusy(Exception):
    """Another sync holds the `sync` lease."""


@dataclass(frozen=True)
class Change:
    """A study whose stored content changed in this run; `previous` is None for a study seen for the first time."""

    kind: str  # new | changed | reappeared | removed
    nct_id: str
    previous: dict[str, Any] | None
    current: dict[str, Any] | None
    last_update_posted: str | None


@dataclass(frozen=True)
class Candidate:
    """A study as fetched, with its id, content hash and canonical text: enough to decide what must be written."""

    nct_id: str
    record: dict[str, Any]
    content_hash: str
    raw_json: str

    @classmethod
    def of(cls, record: dict[str, Any]) -> Candidate:
        """ValueError when the record has no NCT id."""
        nct_id = nct_id_of(record)
        raw_json, digest = canonical_json_and_hash(record)
        return cls(nct_id, record, digest, raw_json)

    def normalized(self) -> Normalized:
        """The full flat record (only computed for studies that are new or changed)."""
        return normalize(self.record, self.content_hash, self.raw_json)


@dataclass
class Counts:
    """What a sync run did, study by unique study."""

    seen: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    removed: int = 0
    per_search: dict[str, dict[str, int | None]] = field(default_factory=dict)


# The `sync` lease of each run this process holds, released by finish_run.
_held: dict[int, Lease] = {}


def start_run(engine: Engine, mode: str, *, lease_s: float = DEFAULT_TTL_S) -> int:
    """Take the `sync` lease (trialfinder/leases.py) and record a running sync run; SyncBusy when a live sync holds
    it. The lease of a dead process (on any host) is taken over and its run marked failed."""
    try:
        lease = acquire(engine, "sync", ttl_s=lease_s, on_takeover=_fail_dead_run)
    except (LeaseBusy, OperationalError) as exc:
        row = exc.row if isinstance(exc, LeaseBusy) else None
        if row is None:
            raise SyncBusy("another sync is running (it started a moment ago)") from None
        raise SyncBusy(_busy_message(row.since, row.holder)) from None
    try:
        with engine.begin() as conn:
            run_id = int(conn.execute(
                insert(runs).values(started_at=utcnow(), status="running", mode=mode, requests=0).returning(runs.c.id)
            ).scalar_one())
            conn.execute(update(leases).where(leases.c.name == "sync", leases.c.holder == lease.holder)
                         .values(run_id=run_id))  # fmt: skip
    except BaseException:
        lease.release()
        raise
    _held[run_id] = lease
    return run_id


def _fail_dead_run(conn: Connection, old: Any) -> None:
    conn.execute(
        update(runs)
        .where(runs.c.id == old.run_id, runs.c.status == "running")
        .values(status="failed", finished_at=utcnow(),
                error=f"the process running this sync ({old.holder}) ended without finishing")
    )


def _busy_message(started_at: dt.datetime, holder: str) -> str:
    return f"another sync is running (started at {started_at:%Y-%m-%d %H:%M:%S} UTC, process {holder})"


def finish_run(engine: Engine, run_id: int, *, status: str, values: dict[str, Any]) -> None:
    """Record how the run ended and release the `sync` lease, in one transaction."""
    lease = _held.pop(run_id, None)
    if lease is not None:
        lease.stop_renewing()
    with engine.begin() as conn:
        conn.execute(update(runs).where(runs.c.id == run_id).values(status=status, finished_at=utcnow(), **values))
        if lease is not None:
            lease.release(conn)


def newest_update_posted(conn: Connection) -> str | None:
    """The newest LastUpdatePostDate among stored studies."""
    return conn.execute(select(func.max(studies.c.last_update_posted))).scalar()


class StudyWriter:
    """Applies pages of normalized studies inside one transaction, counting each unique study once."""

    def __init__(self, conn: Connection, run_id: int, now: dt.datetime) -> None:
        self.conn = conn
        self.run_id = run_id
        self.now = now
        self.counts = Counts()

    def write_page(self, search_name: str, page: Sequence[Candidate]) -> list[Change]:
        """Upsert one page found by `search_name`; returns the studies whose content changed (or are new)."""
        unique = list({item.nct_id: item for item in page}.values())
        if not unique:
            return []
        ids = [item.nct_id for item in unique]
        existing = {
            row.nct_id: row
            for row in self.conn.execute(
                select(studies.c.nct_id, studies.c.content_hash, studies.c.last_seen, studies.c.removed_at).where(
                    studies.c.nct_id.in_(ids)
                )
            )
        }
        fresh: list[Normalized] = []
        changed: list[Normalized] = []
        touched: list[str] = []
        changes: list[Change] = []
        for item in unique:
            row = existing.get(item.nct_id)
            first_this_run = row is None or row.last_seen != self.now
            if first_this_run:
                self.counts.seen += 1
            if row is None:
                fresh.append(item.normalized())
                self.counts.new += 1
                changes.append(Change("new", item.nct_id, None, item.record, _posted(fresh[-1])))
            elif row.content_hash != item.content_hash:
                changed.append(item.normalized())
                if first_this_run:
                    self.counts.changed += 1
                posted = _posted(changed[-1])
                changes.append(Change("changed", item.nct_id, None, item.record, posted))
                if row.removed_at is not None:
                    changes.append(Change("reappeared", item.nct_id, None, None, posted))
            else:
                touched.append(item.nct_id)
                if first_this_run:
                    self.counts.unchanged += 1
                if row.removed_at is not None:
                    changes.append(Change("reappeared", item.nct_id, None, None, None))
        if changed:  # the versions they replace, read in one query before the rows are overwritten
            previous = self._raw([item.nct_id for item in changed])
            changes = [replace(c, previous=previous[c.nct_id]) if c.kind == "changed" else c for c in changes]
        if fresh:
            insert_rows(self.conn, studies, [self._study_row(item, first_seen=True) for item in fresh],
                        {**self._stamps, "first_seen": self.now})  # fmt: skip
        if changed:
            self.conn.execute(
                update(studies).where(studies.c.nct_id == bindparam("key")),
                [{"key": item.nct_id, **self._study_row(item, first_seen=False)} for item in changed],
            )
            self.conn.execute(delete(locations).where(locations.c.nct_id.in_([i.nct_id for i in changed])))
        if touched:
            self.conn.execute(
                update(studies)
                .where(studies.c.nct_id.in_(touched))
                .values(last_seen=self.now, removed_at=None, removed_reason=None)
            )
        written = fresh + changed
        if written:
            insert_rows(self.conn, versions, [self._version_row(item) for item in written], {"recorded_at": self.now})
            location_rows = [{"nct_id": i.nct_id, **loc} for i in written for loc in i.locations]
            insert_rows(self.conn, locations, location_rows)
        self._record_matches(search_name, ids)
        return changes

    def mark_removed(self, reasons: dict[str, str]) -> list[Change]:
        """Set removed_at on studies a full reconcile no longer finds, with the reason for each."""
        if not reasons:
            return []
        self.conn.execute(
            update(studies).where(studies.c.nct_id == bindparam("key")).values(removed_at=self.now),
            [{"key": nct_id, "removed_reason": reason} for nct_id, reason in reasons.items()],
        )
        self.counts.removed += len(reasons)
        return [Change("removed", nct_id, None, None, None) for nct_id in reasons]

    def missing_ids(self) -> list[str]:
        """Studies not removed yet that this run has not seen (for a full reconcile, once every search is done)."""
        return list(
            self.conn.execute(
                select(studies.c.nct_id)
                .where(studies.c.removed_at.is_(None), studies.c.last_seen < self.now)
                .order_by(studies.c.nct_id)
            ).scalars()
        )

    def _raw(self, nct_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The stored raw records of `nct_ids`, by id."""
        rows = self.conn.execute(select(studies.c.nct_id, studies.c.raw_json).where(studies.c.nct_id.in_(nct_ids)))
        return {nct_id: _loads(raw) for nct_id, raw in rows}

    @property
    def _stamps(self) -> dict[str, Any]:
        """What every written studies row gets besides its content (new rows also get first_seen)."""
        return {"last_seen": self.now, "last_changed": self.now, "removed_at": None, "removed_reason": None}

    def _study_row(self, item: Normalized, *, first_seen: bool) -> dict[str, Any]:
        """A studies row; a new one (first_seen) leaves the _stamps columns to insert_rows."""
        row = {**item.study, "raw_json": item.raw_json, "content_hash": item.content_hash}
        if first_seen:
            return row
        del row["nct_id"]
        return {**row, **self._stamps}

    def _version_row(self, item: Normalized) -> dict[str, Any]:
        """A study_versions row without recorded_at (the run's time, given to insert_rows once)."""
        return {
            "nct_id": item.nct_id,
            "content_hash": item.content_hash,
            "raw_json": item.raw_json,
            "run_id": self.run_id,
            "last_update_posted": item.study["last_update_posted"],
        }

    def _record_matches(self, search_name: str, ids: Iterable[str]) -> None:
        ids = list(ids)
        known = set(
            self.conn.execute(
                select(searches.c.nct_id).where(searches.c.search_name == search_name, searches.c.nct_id.in_(ids))
            ).scalars()
        )
        new_pairs = [
            {"nct_id": i, "search_name": search_name, "first_seen_run": self.run_id, "last_seen_run": self.run_id}
            for i in ids
            if i not in known
        ]
        insert_rows(self.conn, searches, new_pairs)
        if known:
            self.conn.execute(
                update(searches)
                .where(searches.c.search_name == search_name, searches.c.nct_id.in_(known))
                .values(last_seen_run=self.run_id)
            )


def _posted(item: Normalized) -> str | None:
    value = item.study.get("last_update_posted")
    return value if isinstance(value, str) else None


def _loads(text: str) -> dict[str, Any]:
    value = json.loads(text)
    assert isinstance(value, dict)
    return value
