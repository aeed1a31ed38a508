"""Writes to the database: studies, with a version row only when the hash changes (sync runs: `ingest.runs`).

Each record is stored once, in its study_versions row; the studies row points at the current one.

`StudyWriter` works inside the caller's transaction (one per sync run) a page at a time, with set-based SQL:
one SELECT for the page's existing rows, then executemany inserts (bulk.insert_rows) and updates. Plain SQLAlchemy
Core, portable.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Connection, bindparam, delete, select, update
from sqlalchemy.exc import DBAPIError, StatementError

from trialfinder.ingest.bulk import insert_rows
from trialfinder.ingest.checks import first_line, newest_valid_date, unstorable_field
from trialfinder.ingest.normalize import Normalized, loads_checked
from trialfinder.ingest.records import Candidate, Change, Recognised
from trialfinder.models import Study, StudyLocation, StudySearch, StudyVersion, utcnow

studies = Study
versions = StudyVersion
locations = StudyLocation
searches = StudySearch
log = logging.getLogger(__name__)


# How many distinct stored dates, newest first, are looked at for a valid one (odd values are rare).
NEWEST_DATE_CANDIDATES = 200


@dataclass
class Counts:
    """What a sync run did, study by unique study."""

    seen: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    removed: int = 0
    skipped: int = 0
    per_search: dict[str, dict[str, int | None]] = field(default_factory=dict)


def newest_update_posted(conn: Connection) -> str | None:
    """The newest valid full LastUpdatePostDate among stored studies, never after tomorrow (UTC).

    Partial ("2027-01"), invalid ("2099-13-45") or future dates are stored as given but never drive the
    incremental window: one would stop every later incremental run from seeing anything.
    """
    latest = (utcnow().date() + dt.timedelta(days=1)).isoformat()
    column = studies.c.last_update_posted
    newest = conn.execute(
        select(column).where(column <= latest).distinct().order_by(column.desc()).limit(NEWEST_DATE_CANDIDATES)
    ).scalars()
    return newest_valid_date(newest, latest)


class StudyWriter:
    """Applies pages of normalized studies inside one transaction, counting each unique study once."""

    def __init__(self, conn: Connection, run_id: int, now: dt.datetime) -> None:
        self.conn = conn
        self.run_id = run_id
        self.now = now
        self.counts = Counts()
        self.skipped: dict[str, dict[str, str]] = {}  # nct_id -> {"nct_id", "search", "field"}
        self._previous: dict[str, dict[str, Any]] = {}

    def recognise(self, fingerprints: Sequence[str]) -> dict[str, str]:
        """The stored studies whose raw fingerprint is one of `fingerprints`: {fingerprint: nct_id}."""
        if not fingerprints:
            return {}
        query = select(studies.c.raw_fingerprint, studies.c.nct_id).where(studies.c.raw_fingerprint.in_(fingerprints))
        return {fp: nct_id for fp, nct_id in self.conn.execute(query)}

    def write_page(
        self, search_name: str, page: Sequence[Candidate], recognised: Sequence[Recognised] = ()
    ) -> list[Change]:
        """Upsert one page found by `search_name`; returns the studies whose content changed (or are new).

        `recognised`: stored studies of the page whose raw bytes had the stored fingerprint (so the same content),
        counted and stamped as unchanged without having been parsed; one whose stored fingerprint is another by now
        (written again in this run since it was looked up) is parsed and compared after all. A record that cannot
        be stored (a value no column holds, or the database refuses it) is skipped: logged with its id and field,
        counted, kept in `skipped` for the next run to retry; the rest of the page is written.
        """
        unique = [item for item in {item.nct_id: item for item in page}.values() if item.nct_id not in self.skipped]
        listed = {item.nct_id for item in unique}
        same = [item for item in {item.nct_id: item for item in recognised}.values()
                if item.nct_id not in listed and item.nct_id not in self.skipped]  # fmt: skip
        if not unique and not same:
            return []
        existing = {
            row.nct_id: row
            for row in self.conn.execute(
                select(studies.c.nct_id, studies.c.content_hash, studies.c.last_seen, studies.c.removed_at,
                       studies.c.raw_fingerprint).where(studies.c.nct_id.in_([*listed, *(i.nct_id for i in same)]))
            )
        }  # fmt: skip
        moved = [item for item in same if existing.get(item.nct_id) is None
                 or existing[item.nct_id].raw_fingerprint != item.fingerprint]  # fmt: skip
        if moved:
            unique += self._parsed(search_name, moved)
            same = [item for item in same if item not in moved]
        plan = _PagePlan(prints={item.nct_id: item.fingerprint for item in unique})
        for item in unique:
            row = existing.get(item.nct_id)
            if row is None or row.content_hash != item.content_hash:
                normalized = item.normalized()
                problem = unstorable_field(normalized)
                if problem is not None:
                    self._skip(search_name, item.nct_id, problem)
                    continue
                (plan.fresh if row is None else plan.changed).append(normalized)
            else:
                plan.touched.append(item.nct_id)
                if item.fingerprint is not None and row.raw_fingerprint != item.fingerprint:
                    plan.refingerprint.append({"key": item.nct_id, "raw_fingerprint": item.fingerprint})
            plan.rows[item.nct_id] = row
        for nct_id in (item.nct_id for item in same):  # recognised by its stored fingerprint: unchanged, not parsed
            plan.touched.append(nct_id)
            plan.rows[nct_id] = existing[nct_id]
        try:
            with self.conn.begin_nested():
                self._apply(search_name, plan)
        except (DBAPIError, StatementError) as exc:  # one record the database refuses: find it, write the others
            plan = self._apply_one_by_one(search_name, plan, exc)
        return self._count(plan)

    def _parsed(self, search_name: str, items: Sequence[Recognised]) -> list[Candidate]:
        """Candidates of recognised studies parsed after all (their stored fingerprint moved on)."""
        out = []
        for item in items:
            try:
                record, plain = loads_checked(bytes(item.raw))
                out.append(Candidate.of(record, item.fingerprint, plain))
            except (ValueError, AttributeError) as exc:
                log.warning("search %s: skipped a record that cannot be stored: %s", search_name, exc)
        return out

    def _apply_one_by_one(self, search_name: str, plan: _PagePlan, first_error: Exception) -> _PagePlan:
        """Write each study of a refused page in its own savepoint, skipping (with the error) those refused."""
        log.debug("search %s: a page was refused (%s); writing its studies one by one", search_name, first_error)
        kept = _PagePlan()
        entries: dict[str, tuple[str, Normalized | str]] = {i.nct_id: ("fresh", i) for i in plan.fresh}
        entries.update({i.nct_id: ("changed", i) for i in plan.changed})
        entries.update({nct_id: ("touched", nct_id) for nct_id in plan.touched})
        for nct_id, row in plan.rows.items():
            name, entry = entries[nct_id]
            single = _PagePlan(rows={nct_id: row}, prints=plan.prints)
            getattr(single, name).append(entry)
            try:
                with self.conn.begin_nested():
                    self._apply(search_name, single)
            except (DBAPIError, StatementError) as exc:
                self._skip(search_name, nct_id, f"the database refused it: {first_line(exc)}")
                continue
            getattr(kept, name).append(entry)
            kept.rows[nct_id] = row
        return kept

    def _skip(self, search_name: str, nct_id: str, problem: str) -> None:
        log.warning("search %s: skipped %s, it cannot be stored: %s (retried on the next run)",
                    search_name, nct_id, problem)  # fmt: skip
        self.skipped[nct_id] = {"nct_id": nct_id, "search": search_name, "field": problem}
        self.counts.skipped = len(self.skipped)

    def _count(self, plan: _PagePlan) -> list[Change]:
        """Count the written studies (each unique study once per run) and list their changes, in page order."""
        changes: list[Change] = []
        fresh = {item.nct_id: item for item in plan.fresh}
        changed = {item.nct_id: item for item in plan.changed}
        for nct_id, row in plan.rows.items():
            first_this_run = row is None or row.last_seen != self.now
            if first_this_run:
                self.counts.seen += 1
            if nct_id in fresh:
                self.counts.new += 1
                changes.append(Change("new", nct_id, None, fresh[nct_id].record, _posted(fresh[nct_id])))
                continue
            item = changed.get(nct_id)
            posted = _posted(item) if item is not None else None
            if item is not None:
                self.counts.changed += first_this_run
                changes.append(Change("changed", nct_id, self._previous.pop(nct_id, None), item.record, posted))
            else:
                self.counts.unchanged += first_this_run
            if row.removed_at is not None:
                changes.append(Change("reappeared", nct_id, None, None, posted))
        return changes

    def _apply(self, search_name: str, plan: _PagePlan) -> None:
        """The page's writes, set-based; `_previous` gets the replaced records of changed studies."""
        fresh, changed, touched, prints = plan.fresh, plan.changed, plan.touched, plan.prints
        if changed:  # the versions they replace, read in one query before the rows point elsewhere
            self._previous.update(self._raw([item.nct_id for item in changed]))
        written = fresh + changed
        # Each record is stored once: in its version row, which the studies row then points at.
        current = self._insert_versions(written)
        if fresh:
            insert_rows(self.conn, studies,
                        [self._study_row(item, prints, current, first_seen=True) for item in fresh],
                        {**self._stamps, "first_seen": self.now})  # fmt: skip
        if changed:
            self.conn.execute(
                update(studies).where(studies.c.nct_id == bindparam("key")),
                [{"key": item.nct_id, **self._study_row(item, prints, current, first_seen=False)} for item in changed],
            )
            self.conn.execute(delete(locations).where(locations.c.nct_id.in_([i.nct_id for i in changed])))
        if touched:
            self.conn.execute(
                update(studies)
                .where(studies.c.nct_id.in_(touched))
                .values(last_seen=self.now, removed_at=None, removed_reason=None)
            )
        if plan.refingerprint:
            self.conn.execute(update(studies).where(studies.c.nct_id == bindparam("key")), plan.refingerprint)
        if written:
            location_rows = [{"nct_id": i.nct_id, **loc} for i in written for loc in i.locations]
            insert_rows(self.conn, locations, location_rows)
        self._record_matches(search_name, list(plan.rows))

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
        """Studies not removed yet that this run has neither seen nor skipped (for a full reconcile)."""
        return list(
            nct_id
            for nct_id in self.conn.execute(
                select(studies.c.nct_id)
                .where(studies.c.removed_at.is_(None), studies.c.last_seen < self.now)
                .order_by(studies.c.nct_id)
            ).scalars()
            if nct_id not in self.skipped
        )

    def seen_in_run(self, nct_ids: Sequence[str]) -> list[str]:
        """Those of `nct_ids` this run has written (new, changed or unchanged), read from their last_seen: no set
        of every id seen is kept in memory (at 50,000 studies it was 5 MB of a run's peak)."""
        return self._ids_among(nct_ids, studies.c.last_seen >= self.now)

    def unseen_stored(self, nct_ids: Sequence[str]) -> list[str]:
        """Those of `nct_ids` that are stored, not removed, and not seen by this run."""
        return self._ids_among(nct_ids, studies.c.removed_at.is_(None), studies.c.last_seen < self.now)

    def _ids_among(self, nct_ids: Sequence[str], *conditions: ColumnElement[bool]) -> list[str]:
        """The stored ids among `nct_ids` that meet `conditions`, asked 500 at a time."""
        found: list[str] = []
        for start in range(0, len(nct_ids), 500):
            batch = nct_ids[start:start + 500]
            query = select(studies.c.nct_id).where(studies.c.nct_id.in_(batch), *conditions)
            found += self.conn.execute(query).scalars()
        return found

    def _raw(self, nct_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The current stored records of `nct_ids`, by id."""
        rows = self.conn.execute(
            select(studies.c.nct_id, versions.c.raw_json)
            .join(versions, versions.c.id == studies.c.current_version_id)
            .where(studies.c.nct_id.in_(nct_ids))
        )
        return {nct_id: _loads(raw) for nct_id, raw in rows}

    def _insert_versions(self, written: Sequence[Normalized]) -> dict[str, int]:
        """Insert a version row for each new or changed study; returns their ids by NCT id (a study written twice
        in this run, on two pages with different content, gets its newest)."""
        if not written:
            return {}
        insert_rows(self.conn, versions, [self._version_row(item) for item in written], {"recorded_at": self.now})
        query = (
            select(versions.c.nct_id, versions.c.id)
            .where(versions.c.run_id == self.run_id, versions.c.nct_id.in_([item.nct_id for item in written]))
            .order_by(versions.c.id)
        )
        return {nct_id: version_id for nct_id, version_id in self.conn.execute(query)}

    @property
    def _stamps(self) -> dict[str, Any]:
        """What every written studies row gets besides its content (new rows also get first_seen)."""
        return {"last_seen": self.now, "last_changed": self.now, "removed_at": None, "removed_reason": None}

    def _study_row(self, item: Normalized, prints: dict[str, str | None], current: dict[str, int], *,
                   first_seen: bool) -> dict[str, Any]:  # fmt: skip
        """A studies row pointing at its version row; a new one (first_seen) leaves the _stamps columns to
        insert_rows."""
        row = {**item.study, "current_version_id": current[item.nct_id], "content_hash": item.content_hash,
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


@dataclass
class _PagePlan:
    """What one page writes: new and changed studies (normalized), unchanged ids, and each one's existing row."""

    fresh: list[Normalized] = field(default_factory=list)
    changed: list[Normalized] = field(default_factory=list)
    touched: list[str] = field(default_factory=list)
    rows: dict[str, Any] = field(default_factory=dict)  # nct_id -> existing row (None for a new study)
    prints: dict[str, str | None] = field(default_factory=dict)  # nct_id -> fingerprint of its raw bytes
    refingerprint: list[dict[str, Any]] = field(default_factory=list)  # unchanged studies whose bytes changed


def _posted(item: Normalized) -> str | None:
    value = item.study.get("last_update_posted")
    return value if isinstance(value, str) else None


def _loads(text: str) -> dict[str, Any]:
    value = json.loads(text)
    assert isinstance(value, dict)
    return value
