"""Site render benchmark: `render_site` over N real-shaped synthetic studies (tests/worldgen.py), synced from the
fake ClinicalTrials.gov API into a fresh SQLite database first (not timed).

Prints, measured in this run: render seconds and pages/s (first render into an empty folder, then an unchanged
re-render over the existing site, which keeps every study page, handout and calendar: site/reuse.py; then one after
a new sync that changed no study, whose footer facts are written into the kept pages; then an unchanged one in a
new process, as the daily job runs, with nothing cached from the renders before), the first
render's time over the unchanged re-render's (target >= 10x at 5,000 studies), the first render's pages/s (target
>= 1,000 at 5,000 studies), index.html raw and gzip sizes for N studies, and the same for a small world (default
300 studies) against the 150 KB gzip target for the list page. The machine's load average is printed with them:
on a shared machine the figures move with it.
The index page's weight includes its world map (issue 18), whose own part is printed against its 60 KB gzip target.
The first render uses [site] render_processes' default (the usable cores, at most 4, from 400 studies on: forked
processes, site/forked.py); the same first render in one process is timed after it, in a new process (cold, as the
first one was), for the ratio of the two.

    python benchmarks/bench_render.py [--studies 5000] [--small 300]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
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

TARGET_GZIP_KB = 150.0
TARGET_REUSE = 10.0  # first render / unchanged re-render
TARGET_MAP_GZIP_KB = 60.0  # what the index page's world map may add
TARGET_PAGES_S = 1000.0  # first render of the big world


def build_database(n: int, folder: Path) -> tuple[Any, Any]:
    """A database holding n synthetic studies (one full sync from the fake API); returns (config, engine)."""
    from benchmarks.bench_sync import config_for
    from tests.fakeapi import FakeCtGov
    from tests.worldgen import make_study
    from trialfinder.db import open_database
    from trialfinder.run.sync import run_sync

    with FakeCtGov() as api:
        api.put_many(make_study(i) for i in range(n))
        config = config_for(api.base_url, str(folder / "tf.db"))
        engine = open_database(config.database.url)
        run_sync(config, engine, full=True, progress=False)
    return config, engine


def measure(n: int, folder: Path) -> dict[str, Any]:
    from sqlalchemy import func, select, update

    from trialfinder.models import SyncRun
    from trialfinder.site.render import render_processes, render_site

    config, engine = build_database(n, folder)
    out = folder / "site"
    runs, kept = [], []
    for step in range(3):
        if step == 2:  # as after the next daily sync that changed no study: the footer facts of every page change
            with engine.begin() as conn:  # (in the same month: a new month redraws the timelines, so every study
                # page with one renders again, once a month)
                last = conn.execute(select(func.max(SyncRun.c.finished_at))).scalar_one()
                later = next(when for when in (last + dt.timedelta(days=1), last + dt.timedelta(minutes=1))
                             if when.month == last.month)
                conn.execute(update(SyncRun).values(data_timestamp=f"{later:%Y-%m-%d}T09:00:00",
                                                              finished_at=later))
        started = time.perf_counter()
        result = render_site(config, engine, out)
        runs.append(time.perf_counter() - started)
        kept.append(result.kept)
    children_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the forked render processes so far
    # the same first render in one process ([site] render_processes = 1), in a new process as the first was (nothing
    # cached from the renders before it)
    one_s, _ = fresh_process_render(config.api.base_url, folder / "tf.db", folder / "site-one", processes=1)
    fresh_s, fresh_kept = fresh_process_render(config.api.base_url, folder / "tf.db", out)
    index = (out / "index.html").read_bytes()
    pages = sorted(out.glob("study/*.html"), key=lambda p: p.stat().st_size)
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    start = index.find(b'<section class="world"')
    world = index[start : index.index(b"</section>", start) + 10] if start >= 0 else b""
    return {
        "studies": result.studies, "pages": result.pages, "files": len(result.files), "first_s": runs[0],
        "again_s": runs[1], "kept": kept[1], "newsync_s": runs[2], "newsync_kept": kept[2], "fresh_s": fresh_s,
        "fresh_kept": fresh_kept, "index_raw": len(index), "one_s": one_s, "children_kib": children_kib,
        "processes": render_processes(config.site.render_processes, result.studies),
        "index_gzip": len(gzip.compress(index, compresslevel=6)),
        "study_median": pages[len(pages) // 2].stat().st_size if pages else 0,
        "study_max": pages[-1].stat().st_size if pages else 0, "site_bytes": total,
        "map_raw": len(world), "map_gzip": len(gzip.compress(world, compresslevel=6)),
    }  # fmt: skip


def fresh_process_render(base_url: str, db: Path, out: Path, processes: int = 0) -> tuple[float, int]:
    """`render_site` into `out` in a new process, as the daily job runs (nothing cached from the renders before it:
    templates, catalogs, gazetteer, map shapes), with the same settings as the renders before (the daily job reads
    the same config.toml each day: a changed setting is a changed input) but [site] render_processes =
    `processes`; returns its seconds (imports not counted) and the files it kept."""
    code = ("import dataclasses, sys, time; from pathlib import Path; sys.path.insert(0, sys.argv[1]); "
            "from benchmarks.bench_sync import config_for; from trialfinder.db import open_database; "
            "from trialfinder.site.render import render_site; "
            "config = config_for(sys.argv[5], sys.argv[2]); engine = open_database(config.database.url); "
            "config = dataclasses.replace(config, site=dataclasses.replace(config.site, "
            "render_processes=int(sys.argv[4]))); "
            "started = time.perf_counter(); result = render_site(config, engine, Path(sys.argv[3])); "
            "print(time.perf_counter() - started, result.kept)")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code, str(REPO), str(db), str(out), str(processes), base_url],
                          check=True, capture_output=True, text=True)  # fmt: skip
    seconds, kept = done.stdout.split()
    return float(seconds), int(kept)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--studies", type=int, default=5000, help="studies in the big world (default 5000)")
    parser.add_argument("--small", type=int, default=300, help="studies in the small world (default 300)")
    args = parser.parse_args()
    results = {}
    for n in (args.studies, args.small):
        with tempfile.TemporaryDirectory() as tmp:
            results[n] = measure(n, Path(tmp))
    print("trialfinder render benchmark (index.html gzip at level 6, as a web server would send it)")
    print(f"{'studies':>8} {'pages':>6} {'first s':>8} {'pages/s':>8} {'again s':>8} {'pages/s':>8} "
          f"{'index KB':>9} {'gzip KB':>8} {'B/row gz':>8} {'study page KB (median/max)':>27} "
          f"{'site MB':>8}")  # fmt: skip
    for r in results.values():
        print(f"{r['studies']:>8} {r['pages']:>6} {r['first_s']:>8.2f} {r['pages'] / r['first_s']:>8.0f} "
              f"{r['again_s']:>8.2f} {r['pages'] / r['again_s']:>8.0f} {r['index_raw'] / 1024:>9.1f} "
              f"{r['index_gzip'] / 1024:>8.1f} {r['index_gzip'] / max(1, r['studies']):>8.0f} "
              f"{r['study_median'] / 1024:>13.1f} / {r['study_max'] / 1024:<11.1f} {r['site_bytes'] / 2**20:>8.1f}")
    for r in results.values():
        print(f"{r['studies']} studies: unchanged re-render kept {r['kept']} files, {r['first_s'] / r['again_s']:.1f}x "
              f"faster than the first render (target >= {TARGET_REUSE:.0f}x: "
              f"{'met' if r['first_s'] / r['again_s'] >= TARGET_REUSE else 'MISSED'}); after a new sync that "
              f"changed no study: {r['newsync_s']:.2f} s, {r['newsync_kept']} files kept with the new footer facts "
              f"({r['first_s'] / r['newsync_s']:.1f}x); unchanged again in a new process (as the daily job): "
              f"{r['fresh_s']:.2f} s, {r['fresh_kept']} files kept ({r['first_s'] / r['fresh_s']:.1f}x)")
    big = results[args.studies]
    speed = big["pages"] / big["first_s"]
    print(f"{args.studies} studies: first render {speed:.0f} pages/s (target >= {TARGET_PAGES_S:.0f}: "
          f"{'met' if speed >= TARGET_PAGES_S else 'MISSED'}); load average {os.getloadavg()[0]:.1f} at the end")
    for r in (r for r in results.values() if r["processes"] > 1):  # the small world renders in one process anyway
        forked = (f"; the largest forked process's peak RSS {r['children_kib'] / 1024:.0f} MB (its pages shared with "
                  f"the parent counted in full)")  # fmt: skip
        print(f"{r['studies']} studies: first render in {r['processes']} processes "
              f"([site] render_processes = 0) {r['first_s']:.2f} s, in one process (a new one) {r['one_s']:.2f} s "
              f"({r['one_s'] / r['first_s']:.2f}x; {r['pages'] / r['one_s']:.0f} pages/s){forked}")
    for r in results.values():
        print(f"{r['studies']} studies: index.html {r['index_raw'] / 1024:.1f} KB raw, {r['index_gzip'] / 1024:.1f} KB "
              f"gzip with its map; the map alone {r['map_raw'] / 1024:.1f} KB raw, {r['map_gzip'] / 1024:.1f} KB gzip "
              f"(target <= {TARGET_MAP_GZIP_KB:.0f} KB: "
              f"{'met' if r['map_gzip'] / 1024 <= TARGET_MAP_GZIP_KB else 'MISSED'})")
    small = results[args.small]
    print(f"list page for {args.small} studies: {small['index_gzip'] / 1024:.1f} KB gzip "
          f"(target <= {TARGET_GZIP_KB:.0f} KB: {'met' if small['index_gzip'] / 1024 <= TARGET_GZIP_KB else 'MISSED'}, "
          f"{small['index_gzip'] / 1024 / TARGET_GZIP_KB:.2f} of the budget)")  # fmt: skip


if __name__ == "__main__":
    main()
