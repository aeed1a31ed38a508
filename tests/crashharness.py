"""Seeded kill -9 trials of `sync --full`, `run --full` and `digest send` (real processes, real HTTP and SMTP).

Each trial copies a prepared database, starts the command, sends SIGKILL after a seeded random delay within the
command's uninterrupted duration, checks `PRAGMA integrity_check`, runs the same command again to the end and
compares the outcome with an uninterrupted run: the stored studies, their versions and the change events must be
exactly the same (none lost, none twice); for `run`, no staging folder and no `running` pipeline run is left; for
`digest send`, every due subscriber has its digest, and one was sent twice only when the kill fell between the
SMTP server's acceptance and the delivery's commit (the documented window). Used by tests/test_crashes.py (a few
trials) and benchmarks/crash_kill9.py (many).
"""

from __future__ import annotations

import dataclasses
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from tests.fakeapi import FakeCtGov
from tests.smtpserver import EMAIL_SECTION, Collector, free_port
from tests.worldgen import make_study

COMMANDS = {"sync": ("sync", "--full"), "run": ("run", "--full"), "digest send": ("digest", "send")}
SUBSCRIBERS = 12


@dataclasses.dataclass(frozen=True)
class Trial:
    """One kill: when, whether the process was still running, and what the checks found."""

    command: str
    delay_s: float
    killed_running: bool
    integrity: str
    converged: bool
    lost: int = 0
    duplicated: int = 0
    leftovers: str = ""

    @property
    def ok(self) -> bool:
        """Intact, converged, nothing lost, nothing left behind (a duplicate is allowed: the documented window)."""
        return self.integrity == "ok" and self.converged and self.lost == 0 and not self.leftovers


@dataclasses.dataclass
class World:
    """A folder with config.toml, the prepared database and an uninterrupted reference of each command."""

    folder: Path
    api: FakeCtGov
    smtp: Collector
    reference: dict[str, Any] = dataclasses.field(default_factory=dict)
    seconds: dict[str, float] = dataclasses.field(default_factory=dict)


def cli(folder: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run `python -m trialfinder --config folder/config.toml *args` to its end."""
    done = subprocess.run([sys.executable, "-m", "trialfinder", "-q", "--config", str(folder / "config.toml"), *args],
                          capture_output=True, text=True, timeout=300, env=_env())  # fmt: skip
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return done


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIALFINDER_")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    return env


@contextmanager
def world(folder: Path, studies: int, page_size: int) -> Iterator[World]:
    """Serve `studies` synthetic studies and an SMTP server; prepare `folder/base.db`: synced, SUBSCRIBERS due
    subscribers, then ~10% of the studies changed (and one gone) upstream, so every command has real work."""
    smtp = Collector()
    controller = Controller(smtp, hostname="127.0.0.1", port=free_port(), data_size_limit=10_000_000)
    controller.start()
    try:
        with FakeCtGov(make_study(i) for i in range(studies)) as api:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "config.toml").write_text(
                f'[api]\nbase_url = "{api.base_url}"\npage_size = {page_size}\nmin_interval_s = 0.0\n'
                f'timeout_s = 5.0\n[database]\nurl = "sqlite:///work.db"\n[sync]\nmax_removed_share = 1.0\n'
                + EMAIL_SECTION.format(port=controller.port, public_url="https://whim.example.org/", security="none"),
                encoding="utf-8")  # fmt: skip
            _first_sync_and_subscribers(folder)
            for i in range(0, studies, 10):
                api.update(f"NCT{90000000 + i:08d}", _recruit)
            api.remove(f"NCT{90000000 + 1:08d}")
            _copy_database(folder / "work.db", folder / "base.db")
            yield World(folder, api, smtp)
    finally:
        controller.stop()


def _first_sync_and_subscribers(folder: Path) -> None:
    """In this process (quicker than a CLI process each): the first sync, and SUBSCRIBERS confirmed subscribers."""
    from trialfinder.config import load_config
    from trialfinder.db import open_database
    from trialfinder.mail import subscribers as subs
    from trialfinder.models import utcnow
    from trialfinder.run.sync import run_sync

    config = load_config(folder / "config.toml")
    engine = open_database(config.database.url)
    run_sync(config, engine, full=True, progress=False)
    with engine.begin() as conn:
        for n in range(SUBSCRIBERS):
            subs.add_subscriber(conn, f"reader{n}@example.org", subs.parse_filters(config, [], [], []), "weekly",
                                now=utcnow())  # fmt: skip
    engine.dispose()
    _backdate(folder / "work.db")


def _recruit(record: dict[str, Any]) -> None:
    status = record["protocolSection"]["statusModule"]
    status["overallStatus"] = "RECRUITING" if status.get("overallStatus") != "RECRUITING" else "COMPLETED"


def _backdate(db: Path) -> None:
    with sqlite3.connect(db) as conn:  # due now: their period began 8 days ago
        conn.execute("UPDATE subscribers SET confirmed_at = datetime(confirmed_at, '-8 days')")


def _copy_database(source: Path, target: Path) -> None:
    """Copy an SQLite database whose last writer may have left its commits in the WAL file."""
    with sqlite3.connect(source) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    shutil.copyfile(source, target)


def _fresh(w: World, command: str) -> None:
    """The prepared database as work.db, and for `digest send` the sync that gives the subscribers their news."""
    for stale in w.folder.glob("work.db*"):
        stale.unlink()
    shutil.rmtree(w.folder / "site", ignore_errors=True)
    shutil.copyfile(w.folder / ("digest.db" if command == "digest send" else "base.db"), w.folder / "work.db")
    w.smtp.received.clear()


def prepare_references(w: World) -> None:
    """Run each command uninterrupted from the prepared database: its outcome and how long it took."""
    for command, args in COMMANDS.items():
        _fresh(w, command)
        began = time.monotonic()
        cli(w.folder, *args)
        w.seconds[command] = time.monotonic() - began
        w.reference[command] = outcome(w)
        if command == "sync":  # the digest trials start from here: events recorded, subscribers due
            _copy_database(w.folder / "work.db", w.folder / "digest.db")


def outcome(w: World) -> dict[str, Any]:
    """What must come out the same however often the command was killed on the way."""
    with sqlite3.connect(w.folder / "work.db") as conn:
        studies = sorted(conn.execute("SELECT nct_id, content_hash, removed_at IS NULL, removed_reason FROM studies"))
        versions = sorted(conn.execute("SELECT nct_id, content_hash FROM study_versions"))
        events = sorted(conn.execute("SELECT nct_id, kind, field_path, old_value, new_value FROM change_events"))
        cursors = sorted(conn.execute("SELECT email, cursor_event_id IS NOT NULL FROM subscribers"))
        deliveries = sorted(conn.execute(
            "SELECT s.email, d.event_count FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id"))
    conn.close()
    return {"studies": studies, "versions": versions, "events": events, "cursors": cursors, "deliveries": deliveries}


def kill_trial(w: World, command: str, rng: random.Random) -> Trial:
    """One seeded kill -9 of `command`, then the checks (see the module docstring)."""
    _fresh(w, command)
    delay = rng.uniform(0.0, w.seconds[command])
    args = COMMANDS[command]
    process = subprocess.Popen([sys.executable, "-m", "trialfinder", "-q", "--config", str(w.folder / "config.toml"),
                                *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env())  # fmt: skip
    time.sleep(delay)
    running = process.poll() is None
    if running:
        os.kill(process.pid, signal.SIGKILL)
    process.wait()
    with sqlite3.connect(w.folder / "work.db") as conn:
        integrity = str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    first = Counter(r.rcpt_tos[0] for r in w.smtp.received)
    cli(w.folder, *args)
    sent = Counter(r.rcpt_tos[0] for r in w.smtp.received)
    result = outcome(w)
    converged = result == w.reference[command]
    lost = duplicated = 0
    if command == "digest send":
        due = {f"reader{n}@example.org" for n in range(SUBSCRIBERS)}
        lost = sum(1 for address in due if sent[address] == 0)
        duplicated = sum(1 for address in due if sent[address] > 1)
        if duplicated > (1 if first else 0):  # at most the one message in flight when the kill came
            converged = False
    return Trial(command, round(delay, 3), running, integrity, converged, lost, duplicated, _leftovers(w))


def _leftovers(w: World) -> str:
    stagings = [p.name for p in w.folder.glob(".site.render-*")]
    with sqlite3.connect(w.folder / "work.db") as conn:
        running = conn.execute("SELECT count(*) FROM pipeline_runs WHERE status = 'running'").fetchone()[0]
        locked = conn.execute("SELECT count(*) FROM leases WHERE name = 'sync'").fetchone()[0]
    parts = [f"staging folders {stagings}" if stagings else "", f"{running} pipeline runs running" if running else "",
             "the ingest lock still held" if locked else ""]  # fmt: skip
    return "; ".join(part for part in parts if part)
