"""The site's downloads: every study, site and change event as CSV in `<site>/exports/`, with the data dictionary
and a Frictionless `datapackage.json` describing the CSVs.

Written by `trialfinder render` and the pipeline's exports step; the index page links them (site.view.SITE_DOWNLOADS).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from trialfinder.config import Config
from trialfinder.export.columns import render_data_dictionary
from trialfinder.export.datapackage import write_datapackage
from trialfinder.export.rows import ExportRequest, pick_columns
from trialfinder.export.writers import write_export_file
from trialfinder.outfile import write_text_atomic

SITE_TABLES = ("studies", "locations", "events")


def write_site_exports(config: Config, engine: Engine, out_dir: Path) -> list[Path]:
    """Write out_dir/exports/studies.csv, locations.csv and events.csv (every CSV column, no filter, removed
    studies included), each with its `<name>.csv.meta.json` sidecar, from one read transaction, and the data
    dictionary and datapackage.json beside them (the files the site's SITE_DOWNLOADS link); returns the three CSV
    paths."""
    paths = []
    with engine.connect() as conn:
        for table in SITE_TABLES:
            path = out_dir / "exports" / f"{table}.csv"
            write_export_file(config, conn, ExportRequest(table, "csv", pick_columns(table, "csv")), path)
            paths.append(path)
        write_datapackage(config, conn, out_dir / "exports", SITE_TABLES)
    write_text_atomic(out_dir / "exports" / "data-dictionary.md", render_data_dictionary())
    return paths
