"""`trialfinder export`: studies, sites, change events or versions as CSV, JSON Lines or JSON, for researchers.

Filters are checked (one-line error listing the valid values, exit 2) before anything is written; a file is
written whole through a temporary file and a rename, with its provenance in `<file>.meta.json`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource
from sqlalchemy.engine import make_url

from trialfinder import wording
from trialfinder.cli.common import EXIT_FAILED, EXIT_USAGE, AppContext, fail, print_or_write
from trialfinder.cli.digest import checked_countries, checked_searches, checked_statuses
from trialfinder.export.columns import TABLES, render_data_dictionary
from trialfinder.export.datapackage import DESCRIPTOR, export_datapackage
from trialfinder.export.datasette import datasette_metadata
from trialfinder.export.rows import FORMATS, ExportError, ExportFilter, ExportRequest, pick_columns
from trialfinder.export.writers import export_to_file, export_to_stream, provenance_line, sidecar_path
from trialfinder.history.events import check_codes


@click.command("export")
@click.option("--table", default="studies", show_default=True, metavar="|".join(TABLES),
              help="One row per study, per site, per change event, or per stored version.")
@click.option("--format", "fmt", default="csv", show_default=True, metavar="|".join(FORMATS),
              help="CSV (RFC 4180, UTF-8), JSON Lines (one object a line) or one JSON array.")
@click.option("--search", "search_names", multiple=True, metavar="NAME",
              help="Only studies found by this configured search (repeat or comma-separate).")
@click.option("--status", "statuses", multiple=True, metavar="STATUS",
              help="Only studies whose overall status is STATUS, e.g. RECRUITING (repeat or comma-separate).")
@click.option("--phase", "phases", multiple=True, metavar="PHASE",
              help="Only studies in PHASE, e.g. PHASE2 (repeat or comma-separate).")
@click.option("--country", "countries", multiple=True, metavar="COUNTRY",
              help="Only studies with a current site in COUNTRY (repeat; the locations table keeps only those "
                   "sites).")
@click.option("--updated-since", metavar="YYYY-MM-DD", help="Only studies whose record was last updated on or "
              "after this date (ClinicalTrials.gov LastUpdatePostDate).")
@click.option("--exclude-removed", is_flag=True, help="Leave out studies no search finds any more (they are "
              "included by default, with removed=true).")
@click.option("--columns", metavar="a,b,c", help="Only these columns, in this order (see docs/data-dictionary.md).")
@click.option("--excel", is_flag=True, help="Start the CSV with a UTF-8 byte order mark, so Excel reads accents.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Write FILE (whole or not at all) and FILE.meta.json instead of printing.")
@click.option("--data-dictionary", is_flag=True, help="Print the data dictionary (every column of every table, "
              "Markdown) instead of data; with -o, write it to FILE.")
@click.option("--datapackage", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Write studies, locations, events and versions as CSV plus a Frictionless datapackage.json "
                   "(Table Schemas: types, descriptions, lists, keys) into DIR; takes no other option.")
@click.pass_context
def export_command(
    ctx: click.Context,
    table: str,
    fmt: str,
    search_names: tuple[str, ...],
    statuses: tuple[str, ...],
    phases: tuple[str, ...],
    countries: tuple[str, ...],
    updated_since: str | None,
    exclude_removed: bool,
    columns: str | None,
    excel: bool,
    output: Path | None,
    data_dictionary: bool,
    datapackage: Path | None,
) -> None:
    """Export the stored studies for spreadsheets or pandas: one row per study (default), site, event or version.

    Columns, their types and ClinicalTrials.gov sources are in docs/data-dictionary.md (also: --data-dictionary).
    In CSV, lists are joined with "|" and text cells starting with = + - @ tab or CR get a leading "'" so a
    spreadsheet never runs them. Provenance (searches, ClinicalTrials.gov data timestamp, export time) goes to
    stderr, and with -o also to FILE.meta.json. Removed studies are included (column removed) unless
    --exclude-removed. --datapackage DIR writes a described Frictionless data package instead.
    """
    app: AppContext = ctx.obj
    quiet = bool(ctx.meta.get("quiet"))
    if datapackage is not None:
        _write_datapackage(ctx, app, datapackage, quiet)
        return
    if data_dictionary:
        _write_dictionary(output, quiet)
        return
    table, fmt = table.strip().lower(), fmt.strip().lower()
    names = [name.strip() for name in (columns or "").split(",") if name.strip()]
    try:
        picked = pick_columns(table, fmt, names or None)
    except ExportError as exc:
        fail(str(exc), EXIT_USAGE)
    if columns is not None and not names:
        fail("--columns is empty; give column names separated by commas", EXIT_USAGE)
    if excel and fmt != "csv":
        fail("--excel only applies to --format csv", EXIT_USAGE)
    searches = checked_searches(app.config, _split(search_names))
    flt = ExportFilter(
        searches=tuple(s.name for s in searches), statuses=checked_statuses(statuses), phases=_phases(phases),
        updated_since=_date(updated_since), exclude_removed=exclude_removed,
    )  # fmt: skip
    engine = app.engine
    with engine.connect() as conn:
        flt = dataclasses.replace(flt, countries=checked_countries(conn, countries))
    request = ExportRequest(table, fmt, picked, flt, excel)
    if output is None:
        meta = _to_stdout(app, request)
        verb = "exported"
    else:
        try:
            meta = export_to_file(app.config, engine, request, output)
        except OSError as exc:
            fail(f"cannot write {output}: {exc}", EXIT_FAILED)
        except KeyboardInterrupt:
            fail(f"export interrupted; {output} was not written", 130)
        verb = f"wrote {output} and {sidecar_path(output).name}:"
    if not quiet:
        click.echo(f"{verb} {provenance_line(meta)}", err=True)


def _to_stdout(app: AppContext, request: ExportRequest) -> dict[str, Any]:
    handle = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="")
    try:
        with app.engine.connect() as conn:
            meta = export_to_stream(app.config, conn, request, handle)
        handle.flush()
    except BrokenPipeError:  # e.g. `| head`: the reader has what it wanted
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    finally:
        with contextlib.suppress(ValueError, OSError):
            handle.detach()
    return meta


@click.command("datasette-metadata")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Write FILE (whole or not at all) instead of printing.")
@click.pass_context
def datasette_metadata_command(ctx: click.Context, output: Path | None) -> None:
    """Print Datasette's metadata.json for the SQLite database: what every table and column means, the source and
    its terms, the ClinicalTrials.gov data timestamp; subscribers and arbitrary SQL closed. Then:

    \b
        trialfinder datasette-metadata -o metadata.json
        datasette trialfinder.db -m metadata.json
    """
    app: AppContext = ctx.obj
    url = make_url(app.config.database.url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        fail(f"Datasette reads SQLite files; the database is {url.get_backend_name()} ([database] url)", EXIT_USAGE)
    engine = app.engine
    assert engine.url.database is not None
    with engine.connect() as conn:
        meta = datasette_metadata(conn, Path(engine.url.database).stem, app.config.api.base_url)
    text = json.dumps(meta, indent=2, ensure_ascii=False) + "\n"
    if print_or_write(text, output) and not ctx.meta.get("quiet"):
        click.echo(f"wrote {output}; serve with: datasette {engine.url.database} -m {output}", err=True)


def _write_datapackage(ctx: click.Context, app: AppContext, directory: Path, quiet: bool) -> None:
    others = [f"--{name.replace('_', '-')}" for name in ctx.params
              if name != "datapackage" and ctx.get_parameter_source(name) is not ParameterSource.DEFAULT]
    if others:
        fail(f"--datapackage writes every table whole and takes no other option (got {', '.join(others)})",
             EXIT_USAGE)  # fmt: skip
    try:
        metas = export_datapackage(app.config, app.engine, directory)
    except OSError as exc:
        fail(f"cannot write {directory}: {exc}", EXIT_FAILED)
    if not quiet:
        rows = ", ".join(f"{meta['rows']} {meta['table']}" for meta in metas)
        click.echo(f"wrote {directory / DESCRIPTOR} and {len(metas)} CSV files ({rows}); check with "
                   f"`frictionless validate {directory / DESCRIPTOR}`", err=True)


def _write_dictionary(output: Path | None, quiet: bool) -> None:
    text = render_data_dictionary()
    if print_or_write(text, output) and not quiet:
        click.echo(f"wrote {output}", err=True)


def _split(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(part.strip() for value in values for part in value.split(",") if part.strip())


def _phases(values: tuple[str, ...]) -> tuple[str, ...]:
    try:
        return check_codes(values, wording.PHASE_WORDS, "--phase", space="")
    except ValueError as exc:
        fail(str(exc), EXIT_USAGE)


def _date(value: str | None) -> str | None:
    if value is None:
        return None
    text = value.strip()
    try:
        if len(text) != 10:
            raise ValueError
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        fail(f"--updated-since {value!r} is not a date; use YYYY-MM-DD", EXIT_USAGE)
