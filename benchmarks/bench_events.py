"""Event detection benchmark: what recording change events adds to a sync.

A fake ClinicalTrials.gov API (separate process) serves N synthetic studies (tests/worldgen.make_study). One full
sync seeds a database; every measured run starts from a copy of it, in its own child process, with change-event
recording off (`run_sync(handlers=())`) and on (the default handlers):
  unchanged full   a full re-sync of the same world (every page fetched, hashed and compared; no events)
  changed full     a full re-sync after ~10% of the studies changed (overall status, a new site, the completion
                   date and their LastUpdatePostDate): 3 events each
  changed incr     the default incremental sync of that changed world (only the updated studies fetched)
Off and on runs alternate after one warm-up run; prints the best of --repeat runs of each: seconds off and on,
the overhead ratio (on / off), the time spent inside the event handler (diff + inserts) measured in the on run,
its share of the sync, and events per second of handler time; then the cost of diff() alone.

    python benchmarks/bench_events.py [--studies 5000] [--changed-every 10] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PAGE_SIZE = 1000
CHANGED_UPDATE_DATE = "2024-06-01"  # after every generated study's LastUpdatePostDate


def changed_study(i: int) -> dict[str, Any]:
    """Study i after its sponsor changed the overall status, added a site and moved the completion date."""
    from tests.worldgen import make_study

    study = make_study(i)
    status = study["protocolSection"]["statusModule"]
    status["overallStatus"] = "ACTIVE_NOT_RECRUITING" if status["overallStatus"] == "RECRUITING" else "RECRUITING"
    status["completionDateStruct"] = {"date": "2031-06", "type": "ESTIMATED"}
    status["lastUpdatePostDateStruct"] = {"date": CHANGED_UPDATE_DATE, "type": "ACTUAL"}
    study["protocolSection"]["contactsLocationsModule"]["locations"].append(
        {"facility": f"Added Research Site {i}", "city": "Lyon", "zip": "69003", "country": "France",
         "status": "RECRUITING", "geoPoint": {"lat": 45.75, "lon": 4.85}})  # fmt: skip
    return study


def serve(n: int, changed_every: int) -> None:
    """Child: serve the world (changed when changed_every > 0) and print the base URL; runs until stdin closes."""
    from tests.fakeapi import FakeCtGov
    from tests.worldgen import make_study

    api = FakeCtGov().start()
    api.put_many(changed_study(i) if changed_every and i % changed_every == 0 else make_study(i) for i in range(n))
    print(api.base_url, flush=True)
    sys.stdin.read()
    api.stop()


def phase(base_url: str, db: str, full: bool, events_on: bool) -> dict[str, Any]:
    """Child: one sync into `db`; seconds, studies seen and events recorded as JSON."""
    from sqlalchemy import func, select

    from benchmarks.bench_sync import config_for
    from trialfinder.db import open_database
    from trialfinder.history.events import record_events
    from trialfinder.ingest.sync import run_sync
    from trialfinder.models import ChangeEvent

    config = config_for(base_url, db, PAGE_SIZE)
    engine = open_database(config.database.url)
    in_handler = [0.0]

    def timed_record_events(conn: Any, run_id: int, changes: Any) -> None:
        begun = time.perf_counter()
        record_events(conn, run_id, changes)
        in_handler[0] += time.perf_counter() - begun

    started = time.perf_counter()
    result = run_sync(config, engine, full=full, progress=False, handlers=(timed_record_events,) if events_on else ())
    seconds = time.perf_counter() - started
    events = ChangeEvent
    with engine.connect() as conn:
        count = conn.execute(select(func.count()).where(events.c.run_id == result.run_id)).scalar_one()
    engine.dispose()
    with sqlite3.connect(db) as raw:  # fold the WAL into the file so a plain copy is the whole database
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return {"seconds": seconds, "studies": result.seen, "events": count, "handler_s": in_handler[0]}


def run_child(*args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--child", *args], check=True, capture_output=True, text=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def start_server(n: int, changed_every: int) -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(n), str(changed_every)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert server.stdout is not None
    return server, server.stdout.readline().strip()


def off_and_on(repeat: int, url: str, seed: Path, tmp: Path, full: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """Best of `repeat` runs with events off and on, interleaved (off/on, then on/off...) after one warm-up run."""
    mode = "full" if full else "incr"
    results: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
    order = ["warm-up"] + [state for k in range(repeat) for state in (("off", "on") if k % 2 == 0 else ("on", "off"))]
    for k, state in enumerate(order):
        db = tmp / f"run-{mode}-{k}.db"
        shutil.copyfile(seed, db)
        result = run_child(url, str(db), mode, "off" if state == "warm-up" else state)
        db.unlink()
        if state != "warm-up":
            results[state].append(result)
    best = [min(results[state], key=lambda r: r["seconds"]) for state in ("off", "on")]
    return best[0], best[1]


def diff_alone(n: int, changed_every: int) -> tuple[int, int, float]:
    """(studies, events, seconds) for diff() over every changed study's stored and new version."""
    from tests.worldgen import make_study
    from trialfinder.history.diff import diff

    ids = range(0, n, changed_every)
    pairs = [(make_study(i), changed_study(i)) for i in ids]
    started = time.perf_counter()
    events = sum(len(diff(old, new)) for old, new in pairs)
    return len(pairs), events, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--studies", type=int, default=5000, help="studies in the fake world (default 5000)")
    parser.add_argument("--changed-every", type=int, default=10, help="change every k-th study (default 10: 10%%)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best is shown (default 3)")
    parser.add_argument("--serve", nargs=2, type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child", nargs=4, metavar=("URL", "DB", "MODE", "EVENTS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        return serve(*args.serve)
    if args.child:
        url, db, mode, events = args.child
        print(json.dumps(phase(url, db, mode == "full", events == "on")))
        return None

    n, every, repeat = args.studies, args.changed_every, args.repeat
    rows: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        seed = tmp / "seed.db"
        server, url = start_server(n, 0)
        try:
            seeded = run_child(url, str(seed), "full", "on")
            rows.append(("unchanged full", *off_and_on(repeat, url, seed, tmp, True)))
        finally:
            server.communicate("")
        server, url = start_server(n, every)
        try:
            for label, full in (("changed full", True), ("changed incr", False)):
                rows.append((label, *off_and_on(repeat, url, seed, tmp, full)))
        finally:
            server.communicate("")

    changed = len(range(0, n, every))
    print(f"trialfinder event detection benchmark: N={n} studies, {changed} changed (status, a new site, completion "
          f"date), page_size={PAGE_SIZE}, best of {repeat}")  # fmt: skip
    print(f"seed: first full sync {seeded['seconds']:.2f} s, {seeded['events']} new_study events")
    print(f"{'re-sync':<15} {'studies':>7} {'events':>7} {'off s':>7} {'on s':>7} {'overhead':>9} {'handler s':>10} "
          f"{'handler share':>14} {'events/s':>9}")  # fmt: skip
    for label, off, on in rows:
        rate = f"{on['events'] / on['handler_s']:.0f}" if on["events"] else "-"
        print(f"{label:<15} {on['studies']:>7} {on['events']:>7} {off['seconds']:>7.2f} {on['seconds']:>7.2f} "
              f"{on['seconds'] / off['seconds']:>8.2f}x {on['handler_s']:>10.3f} "
              f"{on['handler_s'] / on['seconds']:>13.1%} {rate:>9}")  # fmt: skip
    print("overhead = on / off (separate runs: includes run-to-run noise); handler s = time inside record_events "
          "in the on run; events/s = events / handler s")  # fmt: skip
    studies, events, seconds = diff_alone(n, every)
    print(f"diff() alone: {studies} changed studies, {events} events in {seconds * 1000:.1f} ms "
          f"({events / seconds:.0f} events/s, {seconds / studies * 1e6:.0f} µs per study)")  # fmt: skip
    return None


if __name__ == "__main__":
    main()
