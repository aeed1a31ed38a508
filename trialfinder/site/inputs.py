"""Everything one language's render is made of, as one hash (`render_inputs`): every row of the tables the site
reads (studies, their sites, their searches, the change events) and the last succeeded sync run, the settings
(all of config.toml but [database], whose address may hold a password, the database's content being what counts,
and [site] render_processes, which changes how fast the same bytes are made, not the bytes),
the language, the download list, the about pages and the code that builds the view (every module of the package;
templates and the rest of what turns a view into bytes are in the page manifest's code version, reuse.py).

A render whose inputs hash the same as the published site's manifest says, over a site whose files are all as the
manifest says, would make the same bytes again: it keeps every file without building the view (reuse.keep_all).
A study's current record is read through `studies.current_version_id`, and a stored version never changes (its
`content_hash` is in the studies row too), so the versions themselves are not read here; a migration that rewrote
them would come with a new db.HEAD_REVISION, which is part of the code hashed.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, Table, select

from trialfinder.config import Config
from trialfinder.config_sections import DatabaseConfig
from trialfinder.models import ChangeEvent, Study, StudyLocation, StudySearch, last_succeeded_run

TABLES = (Study, StudyLocation, StudySearch, ChangeEvent)  # read whole by the view, the feeds and the events


@dataclass(frozen=True)
class RenderInputs:
    """The hash of a render's inputs and the number of studies it shows."""

    key: str
    studies: int


def render_inputs(config: Config, conn: Connection, lang: str, parts: Sequence[Any]) -> RenderInputs:
    """The hash of what a render in `lang` reads from `config` and the database, with `parts` (the downloads, the
    about pages, whether feeds are written: anything else the caller renders from; reprs must be exact)."""
    digest = hashlib.sha256(b"render inputs 1\n")
    site = dataclasses.replace(config.site, render_processes=0)
    settings = dataclasses.replace(config, database=DatabaseConfig(), site=site)
    digest.update(repr((settings, lang, *parts)).encode("utf-8", "surrogatepass") + b"\0")
    digest.update(view_code().encode() + b"\0")
    run = last_succeeded_run(conn)
    digest.update(_dump([tuple(run)] if run is not None else []) + b"\0")
    studies = 0
    for table in TABLES:
        rows = every_row(conn, table)
        studies = len(rows) if table is Study else studies
        digest.update(table.name.encode() + b"\0" + _dump(rows) + b"\0")
    return RenderInputs(digest.hexdigest(), studies)


def every_row(conn: Connection, table: Table) -> list[tuple[Any, ...]]:
    """Every row of `table` in primary-key order, as the driver gives the values (no type conversion: a tenth of
    the time of a typed select)."""
    query = select(*table.c).order_by(*table.primary_key.columns)
    return [tuple(row) for row in conn.exec_driver_sql(str(query.compile(dialect=conn.dialect)))]


def view_code() -> str:
    """A hash of every module of the package (what builds the view, among the rest)."""
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parent.parent
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _dump(rows: list[tuple[Any, ...]]) -> bytes:
    """Rows as JSON (dates as ISO text, anything else orjson does not know by its repr)."""
    return orjson.dumps(rows, option=orjson.OPT_NON_STR_KEYS, default=repr)
