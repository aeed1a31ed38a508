"""A Frictionless data package: the CSV exports plus `datapackage.json`, whose Table Schemas (types, descriptions,
`|`-separated lists, primary and foreign keys) come from `export.columns`, so `frictionless validate` checks the
files without a README.

Written by `trialfinder export --datapackage DIR` (all four tables) and into the site's `exports/` (the tables the
site offers; a foreign key is given only when its target table is in the package).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine

from trialfinder import __version__
from trialfinder.config import Config
from trialfinder.export.columns import LIST_SEPARATOR, TABLES, Column, columns_of
from trialfinder.export.rows import ExportRequest, pick_columns
from trialfinder.export.writers import write_export_file
from trialfinder.models import last_succeeded_run, utcnow
from trialfinder.outfile import write_text_atomic

PACKAGE_TABLES = ("studies", "locations", "events", "versions")
DESCRIPTOR = "datapackage.json"
TERMS_URL = "https://clinicaltrials.gov/about-site/terms-conditions"
# ClinicalTrials.gov gives a date as YYYY-MM-DD, or only YYYY-MM / YYYY: a pattern, as no one Table Schema type fits.
DATE_PATTERN = r"\d{4}(-\d{2}(-\d{2})?)?"

PRIMARY_KEYS: dict[str, list[str]] = {
    "studies": ["nct_id"],
    "locations": ["nct_id", "site_index"],
    "events": ["event_id"],
    "versions": ["version_id"],
}
# (table, its field) -> (referenced table, its field)
FOREIGN_KEYS: dict[str, list[tuple[str, str, str]]] = {
    "locations": [("nct_id", "studies", "nct_id")],
    "events": [("nct_id", "studies", "nct_id"), ("version_id", "versions", "version_id")],
    "versions": [("nct_id", "studies", "nct_id")],
}


def field_schema(column: Column) -> dict[str, Any]:
    """One Table Schema field for a CSV column: its type, format and description from export.columns."""
    field: dict[str, Any] = {"name": column.name, "description": column.description}
    if column.example:
        field["example"] = column.example
    if column.source:
        field["clinicaltrials_gov_field"] = column.source
    kind = column.type
    if kind == "list":
        field.update(type="list", delimiter=LIST_SEPARATOR, itemType="string")
    elif kind == "boolean":
        field.update(type="boolean", trueValues=["true"], falseValues=["false"])
    elif kind in ("integer", "number"):
        field["type"] = kind
    elif kind == "date":
        field.update(type="string", constraints={"pattern": DATE_PATTERN})
    elif kind == "datetime":
        field.update(type="datetime", format="%Y-%m-%dT%H:%M:%SZ")
    else:
        field["type"] = "string"
    return field


def table_schema(table: str, tables: Sequence[str]) -> dict[str, Any]:
    """The Table Schema of `table`'s CSV: every CSV column, its primary key, and its foreign keys into `tables`."""
    names = {column.name for column in columns_of(table) if column.csv}
    schema: dict[str, Any] = {
        "fields": [field_schema(column) for column in columns_of(table) if column.csv],
        "missingValues": [""],
        "primaryKey": [key for key in PRIMARY_KEYS[table] if key in names],
    }
    foreign = [{"fields": own, "reference": {"resource": other, "fields": theirs}}
               for own, other, theirs in FOREIGN_KEYS.get(table, []) if other in tables]  # fmt: skip
    if foreign:
        schema["foreignKeys"] = foreign
    return schema


def descriptor(config: Config, conn: Connection, tables: Sequence[str]) -> dict[str, Any]:
    """datapackage.json for the CSV files `<table>.csv` of `tables`, with the source, its terms and the data
    timestamp of the last successful sync."""
    run = last_succeeded_run(conn)
    data_timestamp = run.data_timestamp if run is not None else None
    return {
        "name": "trialfinder-whim-cxcr4-trials",
        "title": f"{config.site.title}: clinical trials from ClinicalTrials.gov",
        "description": "WHIM syndrome, CXCR4 and mavorixafor studies as stored by trialfinder, with every site, "
                       "change event and stored version. ClinicalTrials.gov data as of "
                       f"{data_timestamp or 'unknown (no sync yet)'}. Not medical advice.",
        "created": utcnow().astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "version": __version__,
        "sources": [{"title": "ClinicalTrials.gov API v2", "path": config.api.base_url}],
        "licenses": [{"title": "ClinicalTrials.gov terms and conditions", "path": TERMS_URL}],
        "trialfinder": {
            "data_timestamp": data_timestamp,
            "searches": [{"name": s.name, "label": s.label, "params": s.params} for s in config.searches],
        },
        "resources": [
            {
                "name": table, "path": f"{table}.csv", "profile": "tabular-data-resource", "format": "csv",
                "mediatype": "text/csv", "encoding": "utf-8", "title": table, "description": TABLES[table][0],
                "schema": table_schema(table, tables),
            }
            for table in tables
        ],
    }  # fmt: skip


def write_datapackage(config: Config, conn: Connection, directory: Path, tables: Sequence[str]) -> Path:
    """Write `datapackage.json` for the `<table>.csv` files of `tables` already in `directory`; returns its path."""
    path = directory / DESCRIPTOR
    write_text_atomic(path, json.dumps(descriptor(config, conn, tables), indent=2, ensure_ascii=False) + "\n")
    return path


def export_datapackage(config: Config, engine: Engine, directory: Path) -> list[dict[str, Any]]:
    """Every table as CSV (every CSV column, no filter) plus datapackage.json in `directory`, from one read
    transaction; returns each file's provenance."""
    directory.mkdir(parents=True, exist_ok=True)
    metas = []
    with engine.connect() as conn:
        for table in PACKAGE_TABLES:
            request = ExportRequest(table, "csv", pick_columns(table, "csv"))
            metas.append(write_export_file(config, conn, request, directory / f"{table}.csv"))
        write_datapackage(config, conn, directory, PACKAGE_TABLES)
    return metas
