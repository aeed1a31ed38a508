"""`trialfinder datasette-metadata`: the real Datasette serves a synced database with it, reads a table through
its JSON API, shows the descriptions, and keeps the subscribers' table and arbitrary SQL closed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests import testdb
from tests.conftest import Project
from tests.smtpserver import free_port

pytestmark = pytest.mark.skipif(testdb.ON_POSTGRES, reason="Datasette reads SQLite files only")


@pytest.fixture
def datasette(project: Project) -> Iterator[str]:
    """Datasette on 127.0.0.1 serving the project's synced database with trialfinder's metadata.json."""
    project.cli("sync")
    project.cli("subscribers", "add", "ada@example.org")
    metadata = project.path / "metadata.json"
    result = project.cli("datasette-metadata", "-o", str(metadata))
    database = project.path / "trialfinder.db"
    assert f"serve with: datasette {database} -m {metadata}" in result.stderr
    command = shutil.which("datasette", path=str(Path(sys.executable).parent))
    assert command is not None, "datasette is a test extra"
    port = free_port()
    server = subprocess.Popen([command, str(database), "-m", str(metadata), "--host", "127.0.0.1", "--port",
                               str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                requests.get(f"{base}/-/versions.json", timeout=1)
                break
            except requests.ConnectionError:
                assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
                time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.mark.slow
def test_datasette_reads_a_table_with_its_descriptions(project: Project, datasette: str) -> None:
    rows = requests.get(f"{datasette}/trialfinder/studies.json?_shape=array&_col=brief_title", timeout=10).json()
    with project.engine().connect() as conn:
        stored = conn.exec_driver_sql("SELECT nct_id FROM studies ORDER BY nct_id").scalars().all()
    assert sorted(row["nct_id"] for row in rows) == stored and len(stored) > 1
    served = requests.get(f"{datasette}/-/metadata.json", timeout=10).json()
    studies = served["databases"]["trialfinder"]["tables"]["studies"]
    assert studies["description"].startswith("The current state of one study")
    assert studies["columns"]["brief_title"] == "Short title."
    assert served["databases"]["trialfinder"]["tables"]["study_locations"]["columns"]["status"].startswith(
        "Recruitment status at this site")
    assert "ClinicalTrials.gov data as of 20" in served["description"]
    assert served["license_url"].startswith("https://clinicaltrials.gov/")
    page = requests.get(f"{datasette}/trialfinder/studies", timeout=10).text
    assert "Short title." in page  # the column description shown on the table page


@pytest.mark.slow
def test_subscribers_and_raw_sql_stay_closed(datasette: str) -> None:
    assert requests.get(f"{datasette}/trialfinder/subscribers.json", timeout=10).status_code == 403
    sql = requests.get(f"{datasette}/trialfinder.json", params={"sql": "select email from subscribers"}, timeout=10)
    assert sql.status_code == 403 and "ada@example.org" not in sql.text


def test_metadata_to_stdout_and_not_for_postgresql(project: Project, tmp_path: Path) -> None:
    printed = json.loads(project.cli("datasette-metadata").stdout)
    assert printed["databases"]["trialfinder"]["tables"]["subscribers"]["allow"] is False
    other = tmp_path / "pg.toml"
    other.write_text('[database]\nurl = "postgresql+psycopg://nobody@127.0.0.1:1/none"\n', encoding="utf-8")
    result = project.cli("--config", str(other), "datasette-metadata", expect=2)
    assert result.stderr.startswith("trialfinder: error: Datasette reads SQLite files")
