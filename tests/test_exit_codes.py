"""The README's exit codes and "nothing written" rules, for every kind of bad start: one line, never a traceback."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests import testdb
from tests.conftest import Project

pytestmark = pytest.mark.skipif(testdb.ON_POSTGRES, reason="SQLite files and URLs, or a corrupted SQLite file")


def one_line_error(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("trialfinder: error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


def with_database(project: Project, url: str) -> None:
    with project.config_path.open("a", encoding="utf-8") as out:
        out.write(f'\n[database]\nurl = "{url}"\n')


@pytest.mark.parametrize("url", ["nosuchdialect://somewhere/db", "sqlite:///{dir}/no/such/folder/db.sqlite",
                                 "sqlite:///{dir}/notes.txt", "not a url at all"])
def test_a_bad_database_url_or_a_file_that_is_not_sqlite_exits_2(project: Project, url: str) -> None:
    (project.path / "notes.txt").write_text("these are my notes, not a database\n" * 100, encoding="utf-8")
    with_database(project, url.format(dir=project.path))
    for command in (["status"], ["sync"], ["render"], ["export"]):
        result = project.cli(*command, expect=2)
        assert "cannot open the database" in one_line_error(result.stderr)


def test_a_corrupt_database_is_one_line_and_exit_1_for_every_reader(project: Project) -> None:
    project.cli("sync")
    database = project.path / "trialfinder.db"
    engine = create_engine(f"sqlite:///{database}")
    with engine.connect() as conn:  # busy while the sync's own checkpoint (a thread) still runs: wait for it
        while conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)")).scalar():
            time.sleep(0.05)
    engine.dispose()
    data = bytearray(database.read_bytes())
    page = 4096
    for start in range(len(data) // page // 2 * page, len(data), page):  # the second half: schema still readable
        data[start:start + page] = b"\xa5" * page
    database.write_bytes(bytes(data))
    for command in (["status"], ["render"], ["export"], ["digest"]):
        result = project.cli(*command, expect=1)
        assert "malformed" in one_line_error(result.stderr)


def test_a_bad_since_is_refused_before_any_database_is_created(project: Project) -> None:
    result = project.cli("digest", "--since", "last-tuesday", expect=2)
    assert "--since 'last-tuesday' is not valid" in one_line_error(result.stderr)
    assert not (project.path / "trialfinder.db").exists()


def test_a_page_size_of_zero_is_refused(project: Project) -> None:
    text_now = project.config_path.read_text(encoding="utf-8").replace("page_size = 3", "page_size = 0")
    project.config_path.write_text(text_now, encoding="utf-8")
    result = project.cli("sync", expect=2)
    assert "page_size" in one_line_error(result.stderr)
    assert not Path(project.path / "trialfinder.db").exists()
