"""Sync benchmark: whole processes against a fake ClinicalTrials.gov API (its own process) serving N real-shaped
studies (benchmarks/realshape.py: ~28 KB each, results sections grafted from ../shared/ctgov/responses when there).

Every phase is one fresh process, timed from spawn to exit (imports, database open and migrations included), its
peak RSS read from the kernel's rusage of that process (os.wait4):
  fetch        a plain `requests` loop downloading every page (GET /version, then each page of each search)
  fetch-parse  the same plus `json.loads` of each page, no storage
  raw          the same plus inserting each study's raw JSON (json.dumps) into SQLite in one transaction
  first        `trialfinder sync --full` into an empty database
  resync-full  the same again, nothing changed (every page downloaded, compared)
  resync-incr  `trialfinder sync` on the unchanged world (incremental window)
and the start-up: `trialfinder --help` as a whole process, and the imports a sync makes before its first request
(the CLI and the HTTP client: tests/test_startup.py keeps SQLAlchemy, Alembic and Babel out of them), each the
fastest of --rounds fresh processes.
The machine may be shared: phases run `--rounds` times alternating (fetch, fetch-parse, raw, first, resync-full,
fetch, ...), so a burst of load elsewhere hits each alike; each phase reports its fastest round and the largest
peak RSS of its rounds. Ratios are from this one run.

    python benchmarks/bench_sync.py [--studies 5000] [--page-size 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

TARGETS = {
    "first_vs_raw": 1.5,  # first full sync at least this many times the raw loop's speed
    "resync_vs_fetch": 1.5,  # unchanged full re-sync at most this many times the fetch-only time
    "rss_mb": 250.0,  # peak RSS of a sync
    "startup_s": 0.15,  # --help, and the imports before a sync's first request
}
_IMPORTS_BEFORE_THE_FIRST_REQUEST = (
    "import time; started = time.perf_counter(); import trialfinder.cli.main, trialfinder.ingest.client; "
    "print(time.perf_counter() - started)"
)


def startup(rounds: int) -> dict[str, float]:
    """Fastest of `rounds`: `trialfinder --help` spawn to exit, and the imports before a sync's first request."""
    help_s, imports_s = [], []
    for _ in range(rounds):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import sys; from trialfinder.cli import main; sys.exit(main())",
                        "--help"], check=True, capture_output=True)  # fmt: skip
        help_s.append(time.perf_counter() - started)
        out = subprocess.run([sys.executable, "-c", _IMPORTS_BEFORE_THE_FIRST_REQUEST], check=True,
                             capture_output=True, text=True).stdout  # fmt: skip
        imports_s.append(float(out.strip()))
    return {"help": min(help_s), "imports": min(imports_s)}


def serve(n: int) -> None:
    """Child: serve a world of n real-shaped studies and print the base URL; runs until stdin closes."""
    from benchmarks.realshape import donors_are_real, real_shaped_study
    from tests.fakeapi import FakeCtGov

    api = FakeCtGov().start()
    for start in range(0, n, 1000):
        api.put_many(real_shaped_study(i) for i in range(start, min(n, start + 1000)))
    print(api.base_url, "real" if donors_are_real() else "generated", flush=True)
    sys.stdin.read()
    api.stop()


def config_for(base_url: str, db: str, page_size: int | None = None) -> Any:
    """The default config against the fake API at `base_url` and SQLite file `db`, without request pacing; with
    `page_size` studies a page (the default page size when None)."""
    from trialfinder.config import Config, load_config

    base: Config = load_config(environ={"TRIALFINDER_API_URL": base_url, "TRIALFINDER_DATABASE_URL": f"sqlite:///{db}"})
    page = base.api.page_size if page_size is None else page_size
    return dataclasses.replace(base, api=dataclasses.replace(base.api, page_size=page, min_interval_s=0.0))


def _bodies(url: str, page_size: int) -> Iterator[bytes]:
    """GET /version, then the body of every page of every default search."""
    import requests

    from trialfinder.config import DEFAULT_SEARCHES

    session = requests.Session()
    session.get(url + "/version", timeout=60)
    for search in DEFAULT_SEARCHES:
        token = None
        while True:
            params: dict[str, str | int] = {**search.params, "pageSize": page_size, "countTotal": "true"}
            params["format"] = "json"
            if token:
                params["pageToken"] = token
            body = session.get(url + "/studies", params=params, timeout=60).content
            token = _next_token(body)
            yield body
            if not token:
                break


def _next_token(body: bytes) -> str | None:
    """The page's nextPageToken, read from the tail of the body without parsing it (the fake puts it last)."""
    tail = body[-300:].decode("utf-8", "replace")
    marker = tail.rfind('"nextPageToken":"')
    if marker < 0:
        return None
    return tail[marker + len('"nextPageToken":"'):].split('"', 1)[0]


def raw_phase(name: str, url: str, db: str, page_size: int) -> None:
    """Child: fetch, fetch-parse or raw; prints the number of studies."""
    studies = 0
    conn = sqlite3.connect(db) if name == "raw" else None
    if conn is not None:
        conn.execute("CREATE TABLE raw (nct_id TEXT, body TEXT)")
    for body in _bodies(url, page_size):
        if name == "fetch":
            studies += body.count(b'"nctId":')  # the raw count of the page, no parsing
            continue
        page = json.loads(body)
        if conn is None:
            studies += len(page["studies"])
            continue
        rows = [(s["protocolSection"]["identificationModule"]["nctId"], json.dumps(s)) for s in page["studies"]]
        conn.executemany("INSERT INTO raw VALUES (?, ?)", rows)
        studies += len(rows)
    if conn is not None:
        conn.commit()
        conn.close()
    print(studies)


def run_phase(name: str, url: str, db: str, page_size: int, tmp: str) -> dict[str, Any]:
    """One phase as a whole process: wall seconds from spawn to exit, and the process's peak RSS."""
    if name in ("fetch", "fetch-parse", "raw"):
        argv = [sys.executable, __file__, "--child", name, url, db, str(page_size)]
    else:
        config = Path(tmp) / f"{Path(db).stem}.toml"
        config.write_text(f'[api]\nbase_url = "{url}"\npage_size = {page_size}\nmin_interval_s = 0.0\n'
                          f'[database]\nurl = "sqlite:///{db}"\n')  # fmt: skip
        mode = ["--full"] if name in ("first", "resync-full") else []
        argv = [sys.executable, "-c", "import sys; from trialfinder.cli import main; sys.exit(main())",
                "--config", str(config), "sync", *mode]  # fmt: skip
    started = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stderr is not None
    out, err = child.stdout.read(), child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"phase {name} failed ({child.returncode}): {err.strip()[-500:]}")
    if name in ("fetch", "fetch-parse", "raw"):
        studies = int(out.strip().splitlines()[-1])
    else:
        studies = int((out + err).split(" studies seen")[0].rsplit(" ", 1)[-1])
    return {"seconds": seconds, "studies": studies, "rss_kib": usage.ru_maxrss}


def _keep_best(results: dict[str, dict[str, Any]], name: str, measured: dict[str, Any]) -> None:
    """Keep the fastest round of `name`, with the largest peak RSS seen and the number of rounds."""
    best = results.get(name)
    rounds = 1 if best is None else best["rounds"] + 1
    rss = measured["rss_kib"] if best is None else max(best["rss_kib"], measured["rss_kib"])
    if best is None or measured["seconds"] < best["seconds"]:
        best = measured
    results[name] = {**best, "rss_kib": rss, "rounds": rounds}


def start_server(n: int) -> tuple[subprocess.Popen[str], str, str]:
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(n)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert server.stdout is not None
    url, kind = server.stdout.readline().split()
    return server, url, kind


def expected_requests(base_url: str, page_size: int) -> tuple[int, dict[str, int]]:
    import requests

    from trialfinder.config import DEFAULT_SEARCHES

    totals = {}
    for search in DEFAULT_SEARCHES:
        body = requests.get(base_url + "/studies", params={**search.params, "countTotal": "true", "pageSize": "1"},
                            timeout=60).json()  # fmt: skip
        totals[search.name] = body["totalCount"]
    return sum(max(1, math.ceil(t / page_size)) for t in totals.values()) + 1, totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--studies", type=int, default=5000, help="studies in the fake world (default 5000)")
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3, help="best of this many alternating rounds (default 3)")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child", nargs=4, metavar=("PHASE", "URL", "DB", "PAGE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        return serve(args.serve)
    if args.child:
        name, url, db, page = args.child
        return raw_phase(name, url, db, int(page))

    n, page_size, rounds = args.studies, args.page_size, max(1, args.rounds)
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        server, url, kind = start_server(n)
        try:
            _, totals = expected_requests(url, page_size)
            for number in range(rounds):
                db = f"{tmp}/tf{number}.db"
                for name, path in (("fetch", db), ("fetch-parse", db), ("raw", f"{tmp}/raw{number}.db"),
                                   ("first", db), ("resync-full", db)):  # fmt: skip
                    _keep_best(results, name, run_phase(name, url, path, page_size, tmp))
            _keep_best(results, "resync-incr", run_phase("resync-incr", url, db, page_size, tmp))
            size = os.path.getsize(db)
        finally:
            server.communicate("")
    report(n, page_size, totals, kind, results, size)
    start = startup(max(3, rounds))
    print(f"start-up: --help {start['help']:.3f} s spawn to exit, imports before a sync's first request "
          f"{start['imports']:.3f} s (target <= {TARGETS['startup_s']} s: "
          f"{_verdict(max(start.values()) <= TARGETS['startup_s'])})")  # fmt: skip
    return None


def report(n: int, page_size: int, totals: dict[str, int], kind: str, results: dict[str, dict[str, Any]],
           db_bytes: int) -> None:
    """Print the table and the targets."""
    raw_rate = results["raw"]["studies"] / results["raw"]["seconds"]
    print(f"trialfinder sync benchmark: N={n} studies ({kind} results sections), page_size={page_size}, "
          f"searches={totals}; whole processes, wall time spawn to exit")  # fmt: skip
    print(f"{'phase':<12} {'studies':>8} {'seconds':>8} {'studies/s':>10} {'vs raw':>7} {'peak RSS':>10} {'rounds':>6}")
    for name, r in results.items():
        rate = r["studies"] / r["seconds"]
        print(f"{name:<12} {r['studies']:>8} {r['seconds']:>8.2f} {rate:>10.0f} {rate / raw_rate:>6.2f}x "
              f"{r['rss_kib'] / 1024:>7.1f} MB {r['rounds']:>6}")  # fmt: skip
    first, full, fetch = results["first"], results["resync-full"], results["fetch"]
    first_vs_raw = first["studies"] / first["seconds"] / raw_rate
    print(f"first full sync vs raw loop: {first_vs_raw:.2f}x the speed (target >= {TARGETS['first_vs_raw']}: "
          f"{_verdict(first_vs_raw >= TARGETS['first_vs_raw'])})")  # fmt: skip
    resync = full["seconds"] / fetch["seconds"]
    print(f"unchanged full re-sync: {resync:.2f}x the fetch-only time (target <= {TARGETS['resync_vs_fetch']}: "
          f"{_verdict(resync <= TARGETS['resync_vs_fetch'])}); {first['seconds'] / full['seconds']:.2f}x faster than "
          "the first")  # fmt: skip
    vs_parse = first["seconds"] / results["fetch-parse"]["seconds"]
    print(f"full sync vs requests + json.loads (no storage): {vs_parse:.2f}x the time (target <= 1.0 at N=1000"
          f"{': ' + _verdict(vs_parse <= 1.0) if n == 1000 else ''})")  # fmt: skip
    peak = max(first["rss_kib"], full["rss_kib"]) / 1024
    print(f"peak RSS of a sync at N={n}: {peak:.1f} MB (target <= {TARGETS['rss_mb']:.0f} MB: "
          f"{_verdict(peak <= TARGETS['rss_mb'])}; flat in N: compare with --studies {n * 10}); "
          f"database {db_bytes / 2**20:.0f} MB")  # fmt: skip


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


if __name__ == "__main__":
    main()
