"""The site's downloads: every study, site and change event as CSV in `<site>/exports/`, with the data dictionary.

Written by `trialfinder render` and the pipeline's exports step; the index page links SITE_DOWNLOADS.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from .config import Config
from .export import ExportRequest, pick_columns, write_export_file
from .export_columns import render_data_dictionary
from .outfile import write_text_atomic
from .site_context import Download

SITE_TABLES = ("studies", "locations", "events")
SITE_DOWNLOADS = (
    Download("Studies (CSV)", "exports/studies.csv", "one row per study: status, phase, ages, dates, sponsor, summary"),
    Download("Sites (CSV)", "exports/locations.csv",
             "one row per study site: facility, city, country, status, contacts"),
    Download("Changes (CSV)", "exports/events.csv", "one row per change we recorded, in plain words"),
    Download("What the columns mean", "exports/data-dictionary.md",
             "every column, its type and ClinicalTrials.gov field"),
)  # the site's download list (index page)


def write_site_exports(config: Config, engine: Engine, out_dir: Path) -> list[Path]:
    """Write out_dir/exports/studies.csv, locations.csv and events.csv (every CSV column, no filter, removed
    studies included), each with its `<name>.csv.meta.json` sidecar, from one read transaction, and the data
    dictionary beside them (the files of SITE_DOWNLOADS); returns the three CSV paths."""
    paths = []
    with engine.connect() as conn:
        for table in SITE_TABLES:
            path = out_dir / "exports" / f"{table}.csv"
            write_export_file(config, conn, ExportRequest(table, "csv", pick_columns(table, "csv")), path)
            paths.append(path)
    write_text_atomic(out_dir / "exports" / "data-dictionary.md", render_data_dictionary())
    return paths
