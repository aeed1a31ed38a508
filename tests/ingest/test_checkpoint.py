"""SQLite: a sync's commit does not copy the write-ahead log into the database (that is done after it, by a thread
that waits for nobody); a failed sync starts no checkpoint and leaves the database as it was."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import make_url, text

from tests import testdb
from tests.conftest import Project
from trialfinder import db
from trialfinder.ingest.store import StudyWriter

pytestmark = pytest.mark.skipif(testdb.ON_POSTGRES, reason="SQLite's write-ahead log")


def joined_checkpoints() -> None:
    for thread in threading.enumerate():
        if thread.name == "wal-checkpoint":
            thread.join(timeout=30)


@pytest.fixture
def watched(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """What the sync connection's wal_autocheckpoint was while pages were written, and each checkpoint run."""
    seen: dict[str, list[Any]] = {"autocheckpoint": [], "checkpoints": []}
    write_page = StudyWriter.write_page

    def watching(self: StudyWriter, *args: Any, **kwargs: Any) -> Any:
        seen["autocheckpoint"].append(self.conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar())
        return write_page(self, *args, **kwargs)

    real = db.checkpoint
    monkeypatch.setattr(StudyWriter, "write_page", watching)
    monkeypatch.setattr(db, "checkpoint", lambda engine: seen["checkpoints"].append(real(engine)))
    return seen


def test_the_sync_commit_leaves_the_checkpoint_to_a_thread_that_empties_the_log(
    project: Project, watched: dict[str, list[Any]]
) -> None:
    project.cli("sync")
    joined_checkpoints()
    assert watched["autocheckpoint"] and set(watched["autocheckpoint"]) == {0}
    [(frames, copied)] = watched["checkpoints"]  # the whole run's log, copied into the database file after it
    assert frames > 0 and copied == frames
    engine = project.engine()
    with engine.connect() as conn:  # the pooled connection got its automatic checkpoints back
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
        assert conn.execute(text("SELECT COUNT(*) FROM studies")).scalar_one() == len(project.api.nct_ids)


def test_a_failed_sync_starts_no_checkpoint_and_changes_nothing(
    project: Project, watched: dict[str, list[Any]]
) -> None:
    project.cli("sync")
    joined_checkpoints()
    with project.engine().connect() as conn:
        before = conn.execute(text("SELECT nct_id, current_version_id, last_seen FROM studies ORDER BY 1")).all()
    watched["checkpoints"].clear()
    project.api.update(project.api.nct_ids[0], lambda r: r["protocolSection"]["statusModule"].update(
        overallStatus="SUSPENDED"))  # written on the first page, then rolled back
    project.api.after_page(1, lambda fake: fake.fail_next("502", times=100))
    project.cli("sync", "--full", expect=1)
    joined_checkpoints()
    assert watched["checkpoints"] == []
    with project.engine().connect() as conn:
        assert conn.execute(text("SELECT nct_id, current_version_id, last_seen FROM studies ORDER BY 1")).all() \
            == before  # fmt: skip


def test_a_sync_process_ends_with_its_log_folded_into_the_database(project: Project) -> None:
    """The process skips the interpreter's last collection (cli.main), so it closes its connections itself, once
    the checkpoint after the commit is done: the write-ahead log is in the database file and gone."""
    done = subprocess.run([sys.executable, "-m", "trialfinder", "-q", "--config", str(project.config_path), "sync"],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    database = Path(make_url(project.config.database.url).database or "")  # no connection of ours opened
    assert database.is_file() and not Path(f"{database}-wal").exists() and not Path(f"{database}-shm").exists()
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT COUNT(*) FROM studies").fetchone() == (len(project.api.nct_ids),)
