"""Datasette's metadata.json for the trialfinder SQLite database: table and column descriptions (from the models'
docstrings and export/columns.py), the source and its terms, and the ClinicalTrials.gov data timestamp.

`datasette trialfinder.db -m metadata.json` then shows what every table and column means. The subscribers' table
(addresses, secret tokens), their deliveries and the lock are closed, and so is arbitrary SQL (it could read them).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table

from trialfinder.export.columns import columns_of
from trialfinder.export.datapackage import TERMS_URL
from trialfinder.models import last_succeeded_run, metadata

# The database tables that an export table describes: its columns' descriptions apply to the same-named columns.
EXPORT_TABLE_OF = {"studies": "studies", "study_locations": "locations", "change_events": "events",
                   "study_versions": "versions"}  # fmt: skip
# Database column -> export column of another name.
RENAMED = {"content_hash": "version_hash", "position": "site_index"}
RENAMED_IN = {("study_locations", "status"): "site_status", ("change_events", "id"): "event_id",
              ("study_versions", "id"): "version_id"}  # fmt: skip
STORED_ONLY = {
    "raw_json": "The study record exactly as the ClinicalTrials.gov API sent it (JSON text).",
    "current_version_id": "The study's current version (study_versions.id): its raw_json is the current record, "
                          "stored once.",
    "start_date_sort": "start_date as a date for sorting (a partial date at its first day).",
    "primary_completion_date_sort": "primary_completion_date as a date for sorting.",
    "completion_date_sort": "completion_date as a date for sorting.",
}
# Closed to every visitor: personal data and secrets (subscribers), what was sent to whom, and the ingest lock.
PRIVATE_TABLES = ("subscribers", "deliveries", "leases")


def _table_description(table: Table) -> str:
    return " ".join(str(table.info.get("description", "")).split())


def _column_descriptions(table: str) -> dict[str, str]:
    names = [column.name for column in metadata.tables[table].columns]
    export = EXPORT_TABLE_OF.get(table)
    known = {column.name: column.description for column in columns_of(export)} if export else {}
    found = {}
    for name in names:
        key = RENAMED_IN.get((table, name)) or RENAMED.get(name) or name
        description = known.get(key) or STORED_ONLY.get(name)
        if description:
            found[name] = description
    return found


def datasette_metadata(conn: Connection, database_name: str, base_url: str) -> dict[str, Any]:
    """metadata.json for Datasette serving the database as `database_name` (its file name without .db)."""
    run = last_succeeded_run(conn)
    stamp = run.data_timestamp if run is not None else None
    tables: dict[str, Any] = {}
    for name, table in sorted(metadata.tables.items()):
        entry: dict[str, Any] = {"description": _table_description(table)}
        columns = _column_descriptions(name)
        if columns:
            entry["columns"] = columns
        if name in PRIVATE_TABLES:
            entry.update(allow=False, hidden=True)
        tables[name] = entry
    return {
        "title": "trialfinder: WHIM syndrome, CXCR4 and mavorixafor clinical trials",
        "description": "Studies from ClinicalTrials.gov as stored by trialfinder, with every version and change. "
                       f"ClinicalTrials.gov data as of {stamp or 'unknown (no sync yet)'}. Not medical advice.",
        "source": "ClinicalTrials.gov API v2",
        "source_url": base_url,
        "license": "ClinicalTrials.gov terms and conditions",
        "license_url": TERMS_URL,
        "databases": {database_name: {"allow_sql": False, "tables": tables,
                                      "data_timestamp": stamp}},
    }  # fmt: skip
