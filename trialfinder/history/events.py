"""Change events: recorded inside every sync run's transaction, and read back for digests, feeds and the site.

`record_events` is a sync change handler (`sync.run_sync` always runs it): each page's new, changed, reappeared and
removed studies become rows of `change_events` (from the pure `diff.diff`), tied to the run, the study version and
the record's LastUpdatePostDate, and stamped with the run's start time, so a failed run leaves none behind.
`load_events` reads them back, newest filters first, for any window, search, status or country.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, exists, func, or_, select

from trialfinder import wording
from trialfinder.config import Config, ConfigError, SearchConfig
from trialfinder.history.diff import Event, diff
from trialfinder.ingest.bulk import insert_rows
from trialfinder.ingest.store import Change
from trialfinder.models import ChangeEvent, Study, StudyLocation, StudySearch, StudyVersion, SyncRun

events_table = ChangeEvent
studies = Study
versions = StudyVersion
locations = StudyLocation
matches = StudySearch
runs = SyncRun


def events_of_change(change: Change, removed_reason: str | None = None) -> list[Event]:
    """The events one store change stands for (pure)."""
    if change.kind == "removed":
        return [Event("removed", new=removed_reason)]
    if change.kind == "reappeared":
        return [Event("reappeared")]
    if change.kind == "new":
        return diff(None, change.current)
    return diff(change.previous, change.current)


def record_events(conn: Connection, run_id: int, changes: Sequence[Change]) -> None:
    """Sync change handler: diff every change and insert its events, in the run's transaction."""
    if not changes:
        return
    detected_at = conn.execute(select(runs.c.started_at).where(runs.c.id == run_id)).scalar_one()
    ids = sorted({change.nct_id for change in changes})
    newest_version = (
        select(versions.c.nct_id, func.max(versions.c.id)).where(versions.c.nct_id.in_(ids)).group_by(versions.c.nct_id)
    )
    latest = dict(conn.execute(newest_version).tuples().all())
    need_info = sorted({c.nct_id for c in changes if c.kind == "removed" or c.last_update_posted is None})
    info = {}
    if need_info:
        info = {
            row.nct_id: row
            for row in conn.execute(
                select(studies.c.nct_id, studies.c.removed_reason, studies.c.last_update_posted).where(
                    studies.c.nct_id.in_(need_info)
                )
            )
        }
    rows = []
    for change in changes:
        row = info.get(change.nct_id)
        reason = row.removed_reason if row is not None else None
        posted = change.last_update_posted or (row.last_update_posted if row is not None else None)
        for event in events_of_change(change, reason):
            rows.append({
                "run_id": run_id, "nct_id": change.nct_id, "version_id": latest.get(change.nct_id),
                "kind": event.kind, "field_path": event.field_path, "old_value": event.old, "new_value": event.new,
                "last_update_posted": posted,
            })  # fmt: skip
    insert_rows(conn, events_table, rows, {"detected_at": detected_at})


@dataclass(frozen=True)
class EventFilter:
    """Which events to read: a detection-time window and/or an id range (after_id < id <= until_id, for cursors),
    and the studies' searches, current overall statuses and site countries (each: any of; empty = no filter).
    Countries match case-blind."""

    start: dt.datetime | None = None
    end: dt.datetime | None = None
    after_id: int | None = None
    until_id: int | None = None
    searches: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    limit: int | None = None
    newest_first: bool = False


@dataclass(frozen=True)
class EventRow:
    """A stored event with what outputs need about its study."""

    id: int
    run_id: int
    nct_id: str
    kind: str
    field_path: str | None
    old: str | None
    new: str | None
    detected_at: dt.datetime
    last_update_posted: str | None
    version_hash: str | None
    ordinal: int  # 1 for the first event with this (study, version, kind, field), 2 for a repeat...
    brief_title: str | None
    acronym: str | None
    overall_status: str | None
    removed: bool  # the study is no longer listed
    baseline: bool = False  # a new_study of a search's first import (see `baseline_flags`): not news

    @property
    def sentence(self) -> str:
        """The plain-language sentence (wording.describe_event); a baseline study says it was already listed."""
        return self.sentence_in("en")

    def sentence_in(self, lang: str) -> str:
        """`sentence` in a language of trialfinder.i18n.LANGUAGES."""
        if self.baseline:
            return wording.baseline_study_words(self.new, lang)
        return wording.describe_event(self.kind, self.field_path, self.old, self.new, lang)

    @property
    def group(self) -> str:
        """The digest group this event belongs to."""
        return wording.event_group(self.kind)


def load_events(conn: Connection, flt: EventFilter) -> list[EventRow]:
    """Events matching `flt`, oldest first (or newest first), with their study's title and status."""
    e = events_table
    ordinal = (
        select(
            e.c.id.label("event_id"),
            func.row_number()
            .over(partition_by=(e.c.nct_id, e.c.version_id, e.c.kind, e.c.field_path), order_by=e.c.id)
            .label("ordinal"),
        )
    ).subquery()
    query = (
        select(e, versions.c.content_hash, ordinal.c.ordinal, studies.c.brief_title, studies.c.acronym,
               studies.c.overall_status, studies.c.removed_at)
        .join(ordinal, ordinal.c.event_id == e.c.id)
        .join(studies, studies.c.nct_id == e.c.nct_id)
        .outerjoin(versions, versions.c.id == e.c.version_id)
    )  # fmt: skip
    if flt.start is not None:
        query = query.where(e.c.detected_at >= flt.start)
    if flt.end is not None:
        query = query.where(e.c.detected_at <= flt.end)
    if flt.after_id is not None:
        query = query.where(e.c.id > flt.after_id)
    if flt.until_id is not None:
        query = query.where(e.c.id <= flt.until_id)
    query = query.where(*study_conditions(e.c.nct_id, flt.searches, flt.statuses, flt.countries))
    query = query.order_by(e.c.id.desc() if flt.newest_first else e.c.id)
    if flt.limit is not None:
        query = query.limit(flt.limit)
    rows = conn.execute(query).all()
    baseline = baseline_flags(conn, [(row.nct_id, row.run_id) for row in rows if row.kind == "new_study"])
    return [
        EventRow(
            id=row.id, run_id=row.run_id, nct_id=row.nct_id, kind=row.kind, field_path=row.field_path,
            old=row.old_value, new=row.new_value, detected_at=row.detected_at,
            last_update_posted=row.last_update_posted, version_hash=row.content_hash, ordinal=row.ordinal,
            brief_title=row.brief_title, acronym=row.acronym, overall_status=row.overall_status,
            removed=row.removed_at is not None,
            baseline=row.kind == "new_study" and (row.nct_id, row.run_id) in baseline,
        )
        for row in rows
    ]  # fmt: skip


def baseline_flags(conn: Connection, appearances: Sequence[tuple[str, int]]) -> set[tuple[str, int]]:
    """Which (NCT id, run) appearances of new studies belong to a baseline: the first import of a search (the
    run in which that search first found anything). An appearance is news instead when any search that found the
    study in that run had been imported before (a newly registered or newly matching study)."""
    if not appearances:
        return set()
    first_run = dict(conn.execute(select(matches.c.search_name, func.min(matches.c.first_seen_run))
                                  .group_by(matches.c.search_name)).tuples().all())  # fmt: skip
    found: dict[tuple[str, int], list[bool]] = {}
    ids = sorted({nct_id for nct_id, _ in appearances})
    for start in range(0, len(ids), 500):  # bounded IN lists
        query = select(matches.c.nct_id, matches.c.search_name, matches.c.first_seen_run).where(
            matches.c.nct_id.in_(ids[start:start + 500]))
        for nct_id, name, run in conn.execute(query):
            found.setdefault((nct_id, run), []).append(first_run.get(name) == run)
    return {key for key in appearances if found.get(key) and all(found[key])}


@dataclass(frozen=True)
class Baseline:
    """The new studies of one run's first import(s), shown once ("First import: 14 studies"), not one by one."""

    run_id: int
    detected_at: dt.datetime
    events: tuple[EventRow, ...]

    @property
    def count(self) -> int:
        """How many studies the import brought."""
        return len({event.nct_id for event in self.events})

    @property
    def sentence(self) -> str:
        """'First import: 14 studies (...)'."""
        return self.sentence_in("en")

    def sentence_in(self, lang: str) -> str:
        """`sentence` in a language of trialfinder.i18n.LANGUAGES."""
        return wording.baseline_words(self.count, lang)


def by_study(events: Iterable[EventRow]) -> dict[str, list[EventRow]]:
    """`events` gathered per study (NCT id), each study's in the order they come."""
    grouped: dict[str, list[EventRow]] = {}
    for event in events:
        grouped.setdefault(event.nct_id, []).append(event)
    return grouped


def split_baseline(events: Sequence[EventRow]) -> tuple[list[Baseline], list[EventRow]]:
    """The baseline events of `events` gathered per run (in the order they first come), and the other events."""
    runs: dict[int, list[EventRow]] = {}
    news = []
    for event in events:
        if event.baseline:
            runs.setdefault(event.run_id, []).append(event)
        else:
            news.append(event)
    groups = [Baseline(run_id, rows[0].detected_at, tuple(rows)) for run_id, rows in runs.items()]
    return groups, news


def study_conditions(
    nct_id: ColumnElement[Any], searches: Sequence[str], statuses: Sequence[str], countries: Sequence[str]
) -> list[ColumnElement[bool]]:
    """WHERE clauses picking the studies (`nct_id` is their NCT id column, in a query joined to `studies`) found by
    any of `searches`, whose overall status is now any of `statuses`, with a current site in any of `countries`
    (each: empty = no filter). The subqueries use aliases, so they never correlate to an outer search or
    locations table."""
    conditions: list[ColumnElement[bool]] = []
    if searches:
        found = matches.alias("found")
        conditions.append(exists().where(found.c.nct_id == nct_id, found.c.search_name.in_(searches)))
    if statuses:
        conditions.append(studies.c.overall_status.in_(statuses))
    if countries:
        site = locations.alias("site")
        conditions.append(exists().where(site.c.nct_id == nct_id, country_matches(site.c.country, countries)))
    return conditions


def country_matches(column: ColumnElement[Any], countries: Sequence[str]) -> ColumnElement[bool]:
    """`column` is one of `countries`: exactly as stored (any script), or in other letter case for ASCII names
    (SQL lower() folds only ASCII on SQLite, so it is not relied on for the rest)."""
    return or_(column.in_(list(countries)), func.lower(column).in_([c.lower() for c in countries if c.isascii()]))


def known_countries(conn: Connection) -> list[str]:
    """Every country among the stored studies' current sites, sorted."""
    return sorted(c for c in conn.execute(select(locations.c.country).distinct()).scalars() if c)


# --- filter values, checked the same way for `digest`, `export`, subscribers and the subscribe form -------------


def check_searches(config: Config, names: Iterable[str]) -> list[SearchConfig]:
    """The configured searches called `names`, duplicates dropped; ValueError naming the first unknown one."""
    try:
        return [config.search(name) for name in dict.fromkeys(names)]
    except ConfigError as exc:
        raise ValueError(str(exc)) from None


def check_codes(values: Iterable[str], known: Collection[str], option: str, *, space: str = "_") -> tuple[str, ...]:
    """API codes (e.g. statuses with `wording.STATUS_WORDS`): comma-separated parts, upper-cased, inner spaces
    made `space`, duplicates dropped; ValueError "unknown <option> 'X'; choose from: ..." for one not in `known`."""
    codes = [part.strip().upper().replace(" ", space) for value in values for part in value.split(",") if part.strip()]
    for code in codes:
        if code not in known:
            raise ValueError(f"unknown {option} {code!r}; choose from: {', '.join(known)}")
    return tuple(dict.fromkeys(codes))


class UnknownCountry(ValueError):
    """A country not among the known ones: `value` as given, `place` with its spaces collapsed, `choices` the
    known spellings. Its text is "unknown country 'place'"."""

    def __init__(self, value: str, place: str, choices: Sequence[str]) -> None:
        super().__init__(f"unknown country {place!r}")
        self.value, self.place, self.choices = value, place, tuple(choices)


def match_countries(values: Iterable[str], known: Iterable[str] | None, *, strict: bool = True) -> tuple[str, ...]:
    """Countries with their spaces collapsed, spelt as in `known` (any letter case matches), duplicates dropped.
    One not in `known` is an UnknownCountry when `strict`, else kept as written; `known` None keeps every one."""
    spellings = {c.casefold(): c for c in known} if known is not None else None
    found = []
    for value in values:
        place = " ".join(value.split())
        if spellings is not None:
            match = spellings.get(place.casefold())
            if match is not None:
                place = match
            elif strict:
                raise UnknownCountry(value, place, tuple(spellings.values()))
        found.append(place)
    return tuple(dict.fromkeys(found))


def newest_event_id(conn: Connection) -> int:
    """The id of the newest change event, 0 when there is none (a cursor before every event)."""
    return int(conn.execute(select(func.max(events_table.c.id))).scalar() or 0)
