"""Researcher exports: studies, locations, events or versions as CSV, JSON Lines or JSON, read from the database only.

Rows are streamed: one SQL query per table (portable Core, `yield_per` batches; PostgreSQL gets a server-side
cursor), plus, for studies, two more streams in the same NCT id order for their searches and site countries, read
alongside. Nothing holds more than a batch in memory, whatever the number of studies. The columns are
trialfinder/export_columns.py.

Filters pick studies, the same way as `trialfinder digest`: any of the searches, any of the statuses, any of the
phases, a current site in any of the countries, last updated on or after a date; removed studies are included
(column `removed`) unless `exclude_removed`. Every table gives the rows of the picked studies; the locations table
also keeps only the sites in the countries asked for.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import JSON, ColumnElement, Connection, Engine, Select, Text, cast, or_, select

from . import __version__
from .config import Config
from .events import country_matches, study_conditions
from .export_columns import LIST_SEPARATOR, NEUTRALISED_STARTS, TABLES, Column, columns_of
from .models import ChangeEvent, Study, StudyLocation, StudySearch, StudyVersion, UtcDateTime, table_of
from .outfile import open_atomic, write_text_atomic
from .store import last_succeeded_run, utcnow

FORMATS = ("csv", "jsonl", "json")
BATCH_ROWS = 500  # rows per fetch of each stream
DATA_DICTIONARY = "docs/data-dictionary.md in the trialfinder repository (exports/data-dictionary.md on the site)"

studies = table_of(Study)
locations = table_of(StudyLocation)
matches = table_of(StudySearch)
versions = table_of(StudyVersion)
events = table_of(ChangeEvent)


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


# Not needed by any column: the raw record (big), sortable dates and last_seen (each costs a conversion per row).
_STUDY_FIELDS_LEFT_OUT = frozenset({"raw_json", "last_seen", "start_date_sort", "primary_completion_date_sort",
                                    "completion_date_sort"})  # fmt: skip


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


# --- cells ------------------------------------------------------------------------------------------------------


# CSV fields are built here rather than by csv.writer: the same bytes as csv.writer with QUOTE_MINIMAL and CRLF
# (the tests read every export back with the csv module), in about two thirds of the time (benchmarks/).
_NEEDS_QUOTES = re.compile(r'[",\r\n]')


def rfc4180_field(text: str) -> str:
    """RFC 4180: a field holding a comma, a double quote, CR or LF goes in double quotes, inner quotes doubled."""
    return '"' + text.replace('"', '""') + '"' if _NEEDS_QUOTES.search(text) else text


def _csv_text(value: Any) -> str:
    if value is None:
        return ""
    text = value if type(value) is str else str(value)
    if text.startswith(NEUTRALISED_STARTS):
        text = "'" + text
    return '"' + text.replace('"', '""') + '"' if _NEEDS_QUOTES.search(text) else text


def _csv_list(value: Any) -> str:
    if not value:
        return ""
    try:
        text = LIST_SEPARATOR.join(value)
    except TypeError:  # an item that is not text (a number in an unusual record)
        text = LIST_SEPARATOR.join(str(item) for item in value)
    if text.startswith(NEUTRALISED_STARTS):
        text = "'" + text
    return '"' + text.replace('"', '""') + '"' if _NEEDS_QUOTES.search(text) else text


@functools.lru_cache(maxsize=4096)  # many rows share a sync's timestamps
def _iso(value: dt.datetime | str | None) -> str | None:
    """A stored UTC timestamp (a datetime, or its text as the database gives it back) as YYYY-MM-DDTHH:MM:SSZ."""
    if value is None:
        return None
    moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment.replace(microsecond=0).isoformat() + "Z"


# The finished CSV field for a value of each type (numbers, booleans and timestamps never need quotes).
CSV_CELL: dict[str, Callable[[Any], str]] = {
    "text": _csv_text,
    "list": _csv_list,
    "integer": lambda v: "" if v is None else str(int(v)),
    "number": lambda v: "" if v is None else repr(float(v)),
    "boolean": lambda v: "" if v is None else ("true" if v else "false"),
    "date": _csv_text,  # a date never starts with = + - @ tab or CR; a malformed one that does is neutralised
    "datetime": lambda v: _iso(v) or "",
    "json": lambda v: "" if v is None else rfc4180_field(str(v)),
}
JSON_VALUE: dict[str, Callable[[Any], Any]] = {
    "text": lambda v: v,
    "list": lambda v: [str(item) for item in v] if v is not None else [],
    "integer": lambda v: None if v is None else int(v),
    "number": lambda v: None if v is None else float(v),
    "boolean": lambda v: None if v is None else bool(v),
    "date": lambda v: v,
    "datetime": _iso,
    "json": lambda v: None if v is None else json.loads(v),
}


def write_rows(handle: TextIO, rows: Iterable[dict[str, Any]], columns: Sequence[Column], fmt: str) -> int:
    """Write `rows` to `handle` in `fmt` (csv: RFC 4180 with a header; jsonl: one object a line; json: one
    array), one row at a time; returns the number of rows."""
    count = 0
    if fmt == "csv":
        handle.write(",".join(rfc4180_field(column.name) for column in columns) + "\r\n")
        cells = [(column.get, CSV_CELL[column.type]) for column in columns]
        remaining = iter(rows)
        while batch := list(itertools.islice(remaining, BATCH_ROWS)):
            lines = [",".join([cell(get(row)) for get, cell in cells]) for row in batch]
            if len(cells) == 1:  # an empty line would read back as no row at all
                lines = [line or '""' for line in lines]
            handle.write("\r\n".join(lines) + "\r\n")
            count += len(batch)
        return count
    values = [(column.name, column.get, JSON_VALUE[column.type]) for column in columns]
    if fmt == "json":
        handle.write("[")
    for row in rows:
        line = json.dumps({name: value(get(row)) for name, get, value in values}, ensure_ascii=False)
        if fmt == "json":
            handle.write(",\n" if count else "\n")
            handle.write(line)
        else:
            handle.write(line + "\n")
        count += 1
    if fmt == "json":
        handle.write("\n]\n" if count else "]\n")
    return count


# --- provenance and files ---------------------------------------------------------------------------------------


def provenance(config: Config, conn: Connection, request: ExportRequest, exported_at: dt.datetime) -> dict[str, Any]:
    """Where the data comes from: searches, ClinicalTrials.gov data timestamp, last sync, export time, filters.
    `rows` is filled in once the rows are written."""
    run = last_succeeded_run(conn)
    return {
        "table": request.table,
        "format": request.fmt,
        "excel_bom": request.excel,
        "rows": None,
        "columns": [column.name for column in request.columns],
        "list_separator": LIST_SEPARATOR,
        "filters": asdict(request.flt),
        "searches": [{"name": s.name, "label": s.label, "params": s.params} for s in config.searches],
        "clinicaltrials_gov": {
            "api_url": config.api.base_url,
            "api_version": run.api_version if run is not None else None,
            "data_timestamp": run.data_timestamp if run is not None else None,
            "last_sync_finished_at": _iso(run.finished_at) if run is not None else None,
        },
        "exported_at": _iso(exported_at),
        "trialfinder_version": __version__,
        "data_dictionary": DATA_DICTIONARY,
    }


def provenance_line(meta: dict[str, Any]) -> str:
    """The provenance in one line, for stderr."""
    ctgov = meta["clinicaltrials_gov"]
    return (
        f"{meta['rows']} rows of {meta['table']} ({meta['format']}); searches: "
        f"{', '.join(s['name'] for s in meta['searches'])}; ClinicalTrials.gov data as of "
        f"{ctgov['data_timestamp'] or 'unknown (no sync yet)'}; last sync {ctgov['last_sync_finished_at'] or 'never'}; "
        f"exported at {meta['exported_at']}"
    )


def export_to_stream(config: Config, conn: Connection, request: ExportRequest, handle: TextIO) -> dict[str, Any]:
    """Write the export to an open text handle (newline=""); returns the provenance with the row count."""
    meta = provenance(config, conn, request, utcnow())
    if request.excel:
        handle.write("\ufeff")
    meta["rows"] = write_rows(handle, iter_rows(conn, request.table, request.flt), request.columns, request.fmt)
    return meta


def sidecar_path(path: Path) -> Path:
    """`<file>.meta.json` next to an export file."""
    return path.with_name(path.name + ".meta.json")


def export_to_file(config: Config, engine: Engine, request: ExportRequest, path: Path) -> dict[str, Any]:
    """Write the export to `path` and its provenance to `<path>.meta.json`, each whole or not at all (temporary
    file and rename), reading in one transaction (on SQLite one snapshot: a sync meanwhile is not half seen)."""
    with engine.connect() as conn:
        return write_export_file(config, conn, request, path)


def write_export_file(config: Config, conn: Connection, request: ExportRequest, path: Path) -> dict[str, Any]:
    """Like export_to_file, inside the caller's connection (several files from one read transaction)."""
    with open_atomic(path, newline="") as handle:
        meta = export_to_stream(config, conn, request, handle)
    meta["file"] = path.name
    write_text_atomic(sidecar_path(path), json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
    return meta
