"""Benchmark `trialfinder export`: rows/s and peak memory of the studies and locations CSV exports.

A database is filled with N synthetic studies in the real record shape (tests/worldgen.make_study, 1-5 sites each)
through the project's own normalize/store code (StudyWriter pages of 1000, as a sync writes them, without HTTP),
then each export runs in a fresh process writing a real file (temporary file + rename, .meta.json sidecar):

  studies    every CSV column, one row per study
  locations  every CSV column, one row per site

The same is done for N/5 studies, to show that peak memory does not grow with N (rows are streamed in batches).
Each export runs 3 times; prints the median rows/s (and the range of seconds, and CPU seconds, since other work on
the machine slows wall time), the ratio to the 20,000 rows/s target, and peak RSS (ru_maxrss) before and after.

    python benchmarks/bench_export.py [--studies 50000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
TARGET_ROWS_PER_S = 20_000
REPEATS = 3  # each export runs this many times (fresh processes); the median is shown, with the range


def fill(db: str, n: int) -> dict[str, Any]:
    """Child: write n studies into a new database as one succeeded sync run; report seconds."""
    from tests.worldgen import make_study
    from trialfinder.config import DEFAULT_SEARCHES
    from trialfinder.db import open_database
    from trialfinder.ingest.runs import finish_run, start_run
    from trialfinder.ingest.store import Candidate, StudyWriter
    from trialfinder.models import utcnow

    searches = [search.name for search in DEFAULT_SEARCHES]  # worldgen: study i matches searches[i % 3]
    engine = open_database(f"sqlite:///{db}")
    started = time.perf_counter()
    run_id = start_run(engine, "full")
    with engine.begin() as conn:
        writer = StudyWriter(conn, run_id, utcnow())
        for first in range(0, n, 1000):
            page = [Candidate.of(make_study(i)) for i in range(first, min(n, first + 1000))]
            for k, search in enumerate(searches):
                mine = [c for j, c in enumerate(page, first) if j % 3 == k]
                writer.write_page(search, mine)
    finish_run(engine, run_id, status="succeeded", values={"data_timestamp": "2026-11-20T09:00:05",
                                                            "api_version": "2.0.5", "studies_seen": n})  # fmt: skip
    with engine.connect() as conn:  # as after any sync once SQLite has checkpointed: the data in the main file
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return {"seconds": time.perf_counter() - started}


def export_once(db: str, table: str, out: str) -> dict[str, Any]:
    """Child: export `table` as CSV (every default column) to `out`; report rows, seconds and peak RSS."""
    from trialfinder.config import load_config
    from trialfinder.db import open_database
    from trialfinder.export.rows import ExportRequest, pick_columns
    from trialfinder.export.writers import export_to_file

    config = load_config(environ={"TRIALFINDER_DATABASE_URL": f"sqlite:///{db}"})
    engine = open_database(config.database.url)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started, cpu = time.perf_counter(), time.process_time()
    meta = export_to_file(config, engine, ExportRequest(table, "csv", pick_columns(table, "csv")), Path(out))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"rows": meta["rows"], "seconds": seconds, "cpu": cpu, "rss_before_kib": before, "rss_kib": peak,
            "bytes": Path(out).stat().st_size}  # fmt: skip


def child(*args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--child", *args], check=True, capture_output=True, text=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--studies", type=int, default=50_000, help="studies in the big database (default 50000)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        what, *rest = args.child
        result = fill(rest[0], int(rest[1])) if what == "fill" else export_once(rest[0], rest[1], rest[2])
        print(json.dumps(result))
        return

    sizes = (args.studies, max(1, args.studies // 5))
    results: dict[tuple[int, str], dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            db = f"{tmp}/tf-{n}.db"
            filled = child("fill", db, str(n))
            print(f"filled {n} studies in {filled['seconds']:.1f} s", flush=True)
            for table in ("studies", "locations"):
                runs = [child("export", db, table, f"{tmp}/{table}-{n}.csv") for _ in range(REPEATS)]
                runs.sort(key=lambda r: r["seconds"])
                results[(n, table)] = {**runs[len(runs) // 2], "fastest": runs[0]["seconds"],
                                       "slowest": runs[-1]["seconds"]}  # fmt: skip

    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"trialfinder export benchmark: CSV, every column; target {TARGET_ROWS_PER_S} rows/s; median of {REPEATS} "
          f"runs; {os.cpu_count()} CPUs, load average now {load}")
    print(f"{'studies':>8} {'table':<10} {'rows':>8} {'seconds':>8} {'(range)':>13} {'cpu s':>6} {'rows/s':>9} "
          f"{'vs target':>9} {'MB out':>7} {'RSS before':>10} {'peak RSS':>9}")  # fmt: skip
    for (n, table), r in results.items():
        rate = r["rows"] / r["seconds"]
        span = f"{r['fastest']:.2f}-{r['slowest']:.2f}"
        print(f"{n:>8} {table:<10} {r['rows']:>8} {r['seconds']:>8.2f} {span:>13} {r['cpu']:>6.2f} {rate:>9.0f} "
              f"{rate / TARGET_ROWS_PER_S:>8.2f}x {r['bytes'] / 1e6:>7.1f} {r['rss_before_kib'] / 1024:>7.1f} MB "
              f"{r['rss_kib'] / 1024:>6.1f} MB")
    big, small = sizes
    for table in ("studies", "locations"):
        a, b = results[(big, table)], results[(small, table)]
        print(f"peak RSS, {table}: {a['rss_kib'] / 1024:.1f} MB at N={big}, {b['rss_kib'] / 1024:.1f} MB at "
              f"N={small} (ratio {a['rss_kib'] / b['rss_kib']:.2f}, target ~1: streamed, not built in memory)")


if __name__ == "__main__":
    main()
