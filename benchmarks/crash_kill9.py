"""Kill -9 harness: seeded SIGKILLs of `sync --full`, `run --full` and `digest send`, each followed by a run to the
end, against a fake ClinicalTrials.gov API and a local SMTP server (see tests/crashharness.py for the checks).

Prints one line per command: trials, how many kills hit a running process, integrity_check results, how many
reruns converged to the uninterrupted run's state, digests lost and sent twice; then every trial that failed.
Exit 1 if any trial failed. Timings depend on the machine's load: the kill times are drawn within each
command's own uninterrupted duration, measured first.

    python benchmarks/crash_kill9.py [--trials 20] [--seed 14] [--studies 300] [--page-size 20]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> None:
    from tests.crashharness import COMMANDS, kill_trial, prepare_references, world

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20, help="kills per command")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--studies", type=int, default=300)
    parser.add_argument("--page-size", type=int, default=20)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp, world(Path(tmp), args.studies, args.page_size) as w:
        prepare_references(w)
        print(f"{args.studies} studies, {args.page_size} a page, seed {args.seed}; uninterrupted: "
              + ", ".join(f"{c} {s:.1f} s" for c, s in w.seconds.items()))
        trials = [kill_trial(w, command, rng) for command in COMMANDS for _ in range(args.trials)]
    print(f"{'command':<12} {'trials':>6} {'killed':>7} {'intact':>7} {'converged':>9} {'lost':>5} {'twice':>6}")
    for command in COMMANDS:
        mine = [t for t in trials if t.command == command]
        print(f"{command:<12} {len(mine):>6} {sum(t.killed_running for t in mine):>7} "
              f"{sum(t.integrity == 'ok' for t in mine):>7} {sum(t.converged for t in mine):>9} "
              f"{sum(t.lost for t in mine):>5} {sum(t.duplicated for t in mine):>6}")
    failed = [t for t in trials if not t.ok]
    for trial in failed:
        print(f"FAILED {trial}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
