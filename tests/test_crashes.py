"""A short run of the kill -9 harness (tests/crashharness.py): one seeded kill of `sync --full`, `run --full` and
`digest send` each; benchmarks/crash_kill9.py runs many more (docs/reliability.md)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.crashharness import COMMANDS, kill_trial, prepare_references, world


@pytest.mark.slow
def test_kill_9_never_corrupts_and_a_rerun_converges(tmp_path: Path) -> None:
    rng = random.Random(14)
    with world(tmp_path / "world", studies=60, page_size=10) as w:
        prepare_references(w)
        assert w.reference["digest send"]["cursors"] and len(w.reference["sync"]["events"]) > 0
        trials = [kill_trial(w, command, rng) for command in COMMANDS]
    for trial in trials:
        assert trial.ok, trial
