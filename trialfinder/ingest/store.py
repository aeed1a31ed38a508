"""Writes to the database: the ingest lock, sync-run rows, and studies with a version row only when the hash changes.

`StudyWriter` works inside the caller's transaction (one per sync run) a page at a time, with set-based SQL:
one SELECT for the page's existing rows, then executemany inserts (bulk.insert_rows) and updates. Plain SQLAlchemy
Core, portable.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from trialfinder.ingest.bulk import insert_rows
from trialfinder.ingest.normalize import Normalized, canonical_json_and_hash, nct_id_of, normalize
from trialfinder.models import Study, StudyLocation, StudySearch, StudyVersion, SyncLock, SyncRun, table_of, utcnow

studies = table_of(Study)
versions = table_of(StudyVersion)
locations = table_of(StudyLocation)
searches = table_of(StudySearch)
runs = table_of(SyncRun)
lock = table_of(SyncLock)


class SyncBusy(Exception):
    """Another sync holds the ingest lock."""


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
    fingerprint: str | None = None  # normalize.fingerprint of the bytes it was parsed from, when known

    @classmethod
    def of(cls, record: dict[str, Any], fingerprint: str | None = None, floats_plain: bool = False) -> Candidate:
        """ValueError when the record has no NCT id; `floats_plain` as for canonical_json_and_hash."""
        nct_id = nct_id_of(record)
        raw_json, digest = canonical_json_and_hash(record, floats_plain)
        return cls(nct_id, record, digest, raw_json, fingerprint)

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


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def start_run(engine: Engine, mode: str) -> int:
    """Take the ingest lock and record a running sync run; SyncBusy when another sync holds the lock."""
    now = utcnow()
    with engine.begin() as conn:
        held = conn.execute(select(lock.c.holder, lock.c.started_at, lock.c.run_id)).first()
        if held is not None and _is_stale(held.holder):
            conn.execute(delete(lock))
            conn.execute(
                update(runs)
                .where(runs.c.id == held.run_id, runs.c.status == "running")
                .values(status="failed", finished_at=now, error="the process running this sync ended without finishing")
            )
            held = None
        if held is not None:
            raise SyncBusy(_busy_message(held.started_at, held.holder))
        run_id = conn.execute(
            insert(runs).values(started_at=now, status="running", mode=mode, requests=0).returning(runs.c.id)
        ).scalar_one()
        try:
            with conn.begin_nested():
                conn.execute(insert(lock).values(id=1, run_id=run_id, holder=_holder(), started_at=now))
        except IntegrityError:
            raise SyncBusy("another sync is running (it started a moment ago)") from None
    return int(run_id)


def _busy_message(started_at: dt.datetime, holder: str) -> str:
    return f"another sync is running (started at {started_at:%Y-%m-%d %H:%M:%S} UTC, process {holder})"


def _is_stale(holder: str) -> bool:
    """True when the lock holder was a process on this host that no longer exists."""
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def finish_run(engine: Engine, run_id: int, *, status: str, values: dict[str, Any]) -> None:
    """Record how the run ended and release the ingest lock, in one transaction."""
    with engine.begin() as conn:
        conn.execute(update(runs).where(runs.c.id == run_id).values(status=status, finished_at=utcnow(), **values))
        conn.execute(delete(lock).where(lock.c.run_id == run_id))


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

    def recognise(self, fingerprints: Sequence[str]) -> dict[str, str]:
        """The stored studies whose raw fingerprint is one of `fingerprints`: {fingerprint: nct_id}."""
        if not fingerprints:
            return {}
        query = select(studies.c.raw_fingerprint, studies.c.nct_id).where(studies.c.raw_fingerprint.in_(fingerprints))
        return {fp: nct_id for fp, nct_id in self.conn.execute(query)}

    def write_page(self, search_name: str, page: Sequence[Candidate], recognised: Sequence[str] = ()) -> list[Change]:
        """Upsert one page found by `search_name`; returns the studies whose content changed (or are new).

        `recognised`: stored studies of the page whose raw bytes had the stored fingerprint (so the same content),
        counted and stamped as unchanged without having been parsed.
        """
        unique = list({item.nct_id: item for item in page}.values())
        same = [nct_id for nct_id in dict.fromkeys(recognised) if nct_id not in {item.nct_id for item in unique}]
        if not unique and not same:
            return []
        ids = [item.nct_id for item in unique] + same
        existing = {
            row.nct_id: row
            for row in self.conn.execute(
                select(studies.c.nct_id, studies.c.content_hash, studies.c.last_seen, studies.c.removed_at,
                       studies.c.raw_fingerprint).where(studies.c.nct_id.in_(ids))
            )
        }  # fmt: skip
        prints = {item.nct_id: item.fingerprint for item in unique}
        refingerprint: list[dict[str, Any]] = []
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
                if item.fingerprint is not None and row.raw_fingerprint != item.fingerprint:
                    refingerprint.append({"key": item.nct_id, "raw_fingerprint": item.fingerprint})
        for nct_id in same:
            row = existing[nct_id]
            touched.append(nct_id)
            if row.last_seen != self.now:
                self.counts.seen += 1
                self.counts.unchanged += 1
            if row.removed_at is not None:
                changes.append(Change("reappeared", nct_id, None, None, None))
        if changed:  # the versions they replace, read in one query before the rows are overwritten
            previous = self._raw([item.nct_id for item in changed])
            changes = [replace(c, previous=previous[c.nct_id]) if c.kind == "changed" else c for c in changes]
        if fresh:
            insert_rows(self.conn, studies, [self._study_row(item, prints, first_seen=True) for item in fresh],
                        {**self._stamps, "first_seen": self.now})  # fmt: skip
        if changed:
            self.conn.execute(
                update(studies).where(studies.c.nct_id == bindparam("key")),
                [{"key": item.nct_id, **self._study_row(item, prints, first_seen=False)} for item in changed],
            )
            self.conn.execute(delete(locations).where(locations.c.nct_id.in_([i.nct_id for i in changed])))
        if touched:
            self.conn.execute(
                update(studies)
                .where(studies.c.nct_id.in_(touched))
                .values(last_seen=self.now, removed_at=None, removed_reason=None)
            )
        if refingerprint:
            self.conn.execute(update(studies).where(studies.c.nct_id == bindparam("key")), refingerprint)
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

    def _study_row(self, item: Normalized, prints: dict[str, str | None], *, first_seen: bool) -> dict[str, Any]:
        """A studies row; a new one (first_seen) leaves the _stamps columns to insert_rows."""
        row = {**item.study, "raw_json": item.raw_json, "content_hash": item.content_hash,
               "raw_fingerprint": prints.get(item.nct_id)}  # fmt: skip
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
