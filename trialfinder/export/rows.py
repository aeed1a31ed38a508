"""The rows of a researcher export: studies, locations, events or versions, read from the database only.

Rows are streamed: one SQL query per table (portable Core, `yield_per` batches; PostgreSQL gets a server-side
cursor), plus, for studies, two more streams in the same NCT id order for their searches and site countries, read
alongside. Nothing holds more than a batch in memory, whatever the number of studies. The columns are
`export.columns`; `export.writers` turns the rows into CSV, JSON Lines or JSON.

Filters pick studies, the same way as `trialfinder digest`: any of the searches, any of the statuses, any of the
phases, a current site in any of the countries, last updated on or after a date; removed studies are included
(column `removed`) unless `exclude_removed`. Every table gives the rows of the picked studies; the locations table
also keeps only the sites in the countries asked for.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, ColumnElement, Connection, Select, Text, cast, or_, select

from trialfinder.export.columns import TABLES, Column, columns_of
from trialfinder.history.events import country_matches, study_conditions
from trialfinder.models import (
    ChangeEvent,
    Study,
    StudyLocation,
    StudySearch,
    StudyVersion,
    UtcDateTime,
)

FORMATS = ("csv", "jsonl", "json")
BATCH_ROWS = 500  # rows per fetch of each stream

studies = Study
locations = StudyLocation
matches = StudySearch
versions = StudyVersion
events = ChangeEvent


class ExportError(ValueError):
    """Bad export input (unknown table, format or column), worded for a one-line error."""


@dataclass(frozen=True)
class ExportFilter:
    """Which studies to export (each field: any of; empty = no filter). Values are checked by the caller:
    searches by name, statuses and phases as API codes, countries as stored, updated_since as YYYY-MM-DD."""

    searches: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    phases: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    updated_since: str | None = None
    exclude_removed: bool = False


@dataclass(frozen=True)
class ExportRequest:
    """What to write: a table, a format, its columns (see `pick_columns`), the filter, and a BOM for Excel."""

    table: str
    fmt: str
    columns: tuple[Column, ...]
    flt: ExportFilter = ExportFilter()
    excel: bool = False


def pick_columns(table: str, fmt: str, names: Sequence[str] | None = None) -> tuple[Column, ...]:
    """The columns to write: `names` in that order, else the table's defaults for `fmt` (CSV leaves out the
    jsonl/json-only ones). ExportError for an unknown table, format or column."""
    if table not in TABLES:
        raise ExportError(f"unknown --table {table!r}; choose from: {', '.join(TABLES)}")
    if fmt not in FORMATS:
        raise ExportError(f"unknown --format {fmt!r}; choose from: {', '.join(FORMATS)}")
    known = {column.name: column for column in columns_of(table)}
    if not names:
        return tuple(c for c in known.values() if c.csv or fmt != "csv")
    picked = []
    for name in dict.fromkeys(names):
        column = known.get(name)
        if column is None:
            raise ExportError(f"unknown column {name!r} for --table {table}; choose from: {', '.join(known)}")
        if fmt == "csv" and not column.csv:
            raise ExportError(f"column {name!r} is only in --format jsonl or json")
        picked.append(column)
    return tuple(picked)


# --- rows -------------------------------------------------------------------------------------------------------


def _study_conditions(flt: ExportFilter) -> list[ColumnElement[bool]]:
    """WHERE clauses on `studies` for the filter: the digest's (events.study_conditions, whose subqueries never
    correlate to the outer locations or search tables), then phases, updated_since and exclude_removed."""
    conditions = study_conditions(studies.c.nct_id, flt.searches, flt.statuses, flt.countries)
    if flt.phases:  # phases is a JSON array of codes; its text holds each code in double quotes
        text = cast(studies.c.phases, Text)
        conditions.append(or_(*(text.like(f'%"{_like_escape(p)}"%', escape="\\") for p in flt.phases)))
    if flt.updated_since:
        conditions.append(studies.c.last_update_posted >= flt.updated_since)
    if flt.exclude_removed:
        conditions.append(studies.c.removed_at.is_(None))
    return conditions


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _query(table: str, flt: ExportFilter) -> Select[Any]:
    conditions = _study_conditions(flt)
    if table == "studies":
        fields = [_as_stored(c) for c in studies.c if c.name not in _STUDY_FIELDS_LEFT_OUT]
        return select(*fields).where(*conditions).order_by(studies.c.nct_id)
    if table == "locations":
        query = (
            select(*(_as_stored(c) for c in locations.c), studies.c.overall_status)
            .join(studies, studies.c.nct_id == locations.c.nct_id)
            .where(*conditions)
            .order_by(locations.c.nct_id, locations.c.position)
        )
        if flt.countries:
            query = query.where(country_matches(locations.c.country, flt.countries))
        return query
    if table == "events":
        return (
            select(*(_as_stored(c) for c in events.c), versions.c.content_hash)
            .join(studies, studies.c.nct_id == events.c.nct_id)
            .outerjoin(versions, versions.c.id == events.c.version_id)
            .where(*conditions)
            .order_by(events.c.id)
        )
    if table == "versions":
        query = select(*(_as_stored(c) for c in versions.c)).order_by(versions.c.id)
        if conditions:
            query = query.where(versions.c.nct_id.in_(select(studies.c.nct_id).where(*conditions)))
        return query
    raise ExportError(f"unknown --table {table!r}; choose from: {', '.join(TABLES)}")


# Not needed by any column: the current version's id, sortable dates and last_seen (each costs a conversion per row).
_STUDY_FIELDS_LEFT_OUT = frozenset({"current_version_id", "last_seen", "start_date_sort",
                                    "primary_completion_date_sort", "completion_date_sort"})  # fmt: skip


def _as_stored(column: Any) -> Any:
    """JSON and timestamp columns as their stored text (a portable CAST): SQLAlchemy's conversion of them was about
    half the cost of reading a study row. `iter_rows` decodes the JSON; timestamps are formatted from the text."""
    if isinstance(column.type, (JSON, UtcDateTime)):
        return cast(column, Text).label(column.name)
    return column


def _json_fields(table: str) -> tuple[str, ...]:
    source = {"studies": studies, "locations": locations, "events": events, "versions": versions}[table]
    return tuple(c.name for c in source.c if isinstance(c.type, JSON) and c.name not in _STUDY_FIELDS_LEFT_OUT)


@functools.lru_cache(maxsize=8192)  # many studies share their phases, age groups, keywords...
def _json_of(text: str) -> Any:
    return json.loads(text)  # shared between rows: nothing changes these values, every getter builds its own


def _stream(conn: Connection, query: Select[Any]) -> Iterator[Any]:
    return iter(conn.execution_options(yield_per=BATCH_ROWS).execute(query))


def iter_rows(conn: Connection, table: str, flt: ExportFilter) -> Iterator[dict[str, Any]]:
    """The rows of `table` for the filter, in file order, as dicts the columns' getters read; streamed."""
    result = conn.execution_options(yield_per=BATCH_ROWS).execute(_query(table, flt))
    keys = tuple(result.keys())
    rows: Iterator[dict[str, Any]] = (dict(zip(keys, row, strict=True)) for row in result)
    json_fields = _json_fields(table)
    if json_fields:
        rows = _decoded(rows, json_fields)
    if table != "studies":
        yield from rows
        return
    # Each study's sites (for countries and site_count) and searches come from two more streams in the same
    # nct_id order, read alongside: no per-batch IN lists, nothing held beyond the current study.
    conditions = _study_conditions(flt)
    sites = _Alongside(_stream(conn, select(locations.c.nct_id, locations.c.country)
                               .join(studies, studies.c.nct_id == locations.c.nct_id).where(*conditions)
                               .order_by(locations.c.nct_id, locations.c.position)))  # fmt: skip
    found = _Alongside(_stream(conn, select(matches.c.nct_id, matches.c.search_name)
                               .join(studies, studies.c.nct_id == matches.c.nct_id).where(*conditions)
                               .order_by(matches.c.nct_id, matches.c.search_name)))  # fmt: skip
    for row in rows:
        key = row["nct_id"]
        countries = sites.take(key)
        row["site_count"] = len(countries)
        row["countries"] = [country for country in dict.fromkeys(countries) if country]
        row["searches"] = found.take(key)
        yield row


def _decoded(rows: Iterator[dict[str, Any]], fields: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    for row in rows:
        for field in fields:
            text = row[field]
            if text is not None:
                row[field] = _json_of(text)
        yield row


class _Alongside:
    """A stream of (nct_id, value) rows in the studies stream's nct_id order, taken study by study.

    NCT ids are same-length ASCII ("NCT" and 8 digits), which every collation orders as Python does; rows of a
    study the main stream does not have (e.g. committed between the two queries on a database without one
    snapshot per transaction) are skipped."""

    def __init__(self, rows: Iterator[Any]) -> None:
        self._rows = rows
        self._next = next(rows, None)

    def take(self, key: str) -> list[Any]:
        while self._next is not None and self._next[0] < key:
            self._next = next(self._rows, None)
        values = []
        while self._next is not None and self._next[0] == key:
            values.append(self._next[1])
            self._next = next(self._rows, None)
        return values
