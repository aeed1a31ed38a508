"""Writing exports: each row's cells as CSV (RFC 4180, formula-safe), JSON Lines or JSON, the provenance beside
them, and whole files (temporary file and rename). The rows come from `export.rows`; the columns from
`export.columns`.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import Connection, Engine

from trialfinder import __version__
from trialfinder.config import Config
from trialfinder.export.columns import LIST_SEPARATOR, NEUTRALISED_STARTS, Column
from trialfinder.export.rows import BATCH_ROWS, ExportRequest, iter_rows
from trialfinder.models import last_succeeded_run, utcnow
from trialfinder.outfile import open_atomic, write_text_atomic
from trialfinder.wording import printable

DATA_DICTIONARY = "docs/data-dictionary.md in the trialfinder repository (exports/data-dictionary.md on the site)"


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
    text = printable(value if type(value) is str else str(value))
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
    text = printable(text)
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
    "json": lambda v: "" if v is None else rfc4180_field(printable(str(v))),
}
JSON_VALUE: dict[str, Callable[[Any], Any]] = {
    "text": lambda v: v if v is None else printable(str(v)),
    "list": lambda v: [printable(str(item)) for item in v] if v is not None else [],
    "integer": lambda v: None if v is None else int(v),
    "number": lambda v: None if v is None else float(v),
    "boolean": lambda v: None if v is None else bool(v),
    "date": lambda v: v if v is None else printable(str(v)),
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
