"""Benchmark the same work on SQLite and on PostgreSQL in one run: a first full sync, an unchanged full re-sync
and the studies and locations CSV exports, each phase in a fresh process against the fake API (N synthetic studies
in the real record shape, tests/worldgen.make_study), through the code users run (run.sync.run_sync,
export.writers.export_to_file). Prints seconds per phase for each database and the PostgreSQL/SQLite ratio.

PostgreSQL: a server URL (`--postgres`, or TRIALFINDER_TEST_DATABASE_URL as scripts/test.sh sets it) on which a
scratch database is created and dropped; e.g. postgresql+psycopg://postgres@127.0.0.1:5432/postgres.

    python benchmarks/bench_databases.py [--studies 3000] [--postgres URL]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
PHASES = ("first sync", "re-sync", "export studies", "export locations")


def child(url: str, n: int, out_dir: str) -> dict[str, float]:
    """Child: every phase against database `url` (empty), N studies; seconds per phase."""
    from tests.fakeapi import FakeCtGov
    from tests.worldgen import make_study
    from trialfinder.config import load_config
    from trialfinder.db import open_database
    from trialfinder.export.rows import ExportRequest, pick_columns
    from trialfinder.export.writers import export_to_file
    from trialfinder.run.sync import run_sync

    seconds: dict[str, float] = {}
    with FakeCtGov(make_study(i) for i in range(n)) as api:
        base = load_config(environ={"TRIALFINDER_API_URL": api.base_url, "TRIALFINDER_DATABASE_URL": url})
        config = dataclasses.replace(base, api=dataclasses.replace(base.api, min_interval_s=0.0))
        engine = open_database(config.database.url)
        for name in ("first sync", "re-sync"):
            started = time.perf_counter()
            run_sync(config, engine, full=True, progress=False)
            seconds[name] = time.perf_counter() - started
    for table in ("studies", "locations"):
        started = time.perf_counter()
        export_to_file(config, engine, ExportRequest(table, "csv", pick_columns(table, "csv")),
                       Path(out_dir) / f"{table}.csv")  # fmt: skip
        seconds[f"export {table}"] = time.perf_counter() - started
    engine.dispose()
    return seconds


def run_child(url: str, n: int, out_dir: str) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", url, str(n), out_dir]
    out = subprocess.run(command, check=True, capture_output=True, text=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--studies", type=int, default=3000, help="studies in the fake API's world (default 3000)")
    parser.add_argument("--postgres", default=os.environ.get("TRIALFINDER_TEST_DATABASE_URL"),
                        help="a PostgreSQL server URL (default: TRIALFINDER_TEST_DATABASE_URL)")  # fmt: skip
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], int(args.child[1]), args.child[2])))
        return
    if not args.postgres:
        parser.error("give --postgres URL (or set TRIALFINDER_TEST_DATABASE_URL)")

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    scratch = f"trialfinder_bench_{os.getpid()}"
    admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{scratch}"'))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            pg_url = make_url(args.postgres).set(database=scratch).render_as_string(hide_password=False)
            results = {"SQLite": run_child(f"sqlite:///{tmp}/bench.db", args.studies, tmp),
                       "PostgreSQL": run_child(pg_url, args.studies, tmp)}  # fmt: skip
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)'))
        admin.dispose()
    print(f"{args.studies} studies (fake API on 127.0.0.1; each database in its own process; wall seconds)")
    print(f"{'phase':<18}{'SQLite':>10}{'PostgreSQL':>12}{'PG/SQLite':>11}")
    for name in PHASES:
        lite, pg = results["SQLite"][name], results["PostgreSQL"][name]
        print(f"{name:<18}{lite:>10.2f}{pg:>12.2f}{pg / lite:>10.2f}x")


if __name__ == "__main__":
    main()
