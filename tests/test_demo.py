"""`trialfinder demo`: the stand-in API, two days of the main job, the site and the digest, all offline.

The subprocess test runs the demo with no network but 127.0.0.1: in a network namespace of its own when this
machine allows one (`unshare -rn`, loopback only), and always with every HTTP proxy pointed at a closed local
port (so any request that is not to 127.0.0.1 fails) and TRIALFINDER_API_URL set to an address that does not exist.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Project
from tests.smtpserver import SmtpServer
from tests.worldgen import load_fixture_studies
from trialfinder.cli.demo import DEMO_TITLE, MARKER

FIXTURE_IDS = sorted(s["protocolSection"]["identificationModule"]["nctId"] for s in load_fixture_studies())


def _isolated() -> list[str]:
    """A command prefix that runs its command with loopback as the only network, or [] where that is refused."""
    if not (shutil.which("unshare") and shutil.which("ip")):
        return []
    probe = subprocess.run(["unshare", "-rn", "sh", "-c", "ip link set lo up"], capture_output=True, timeout=30)
    return ["unshare", "-rn", "sh", "-c", 'ip link set lo up && exec "$@"', "sh"] if probe.returncode == 0 else []


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


@pytest.mark.slow
def test_demo_runs_offline_and_shows_real_changes(tmp_path: Path) -> None:
    dead = "http://127.0.0.1:9"
    env = {**os.environ, "HTTP_PROXY": dead, "HTTPS_PROXY": dead, "ALL_PROXY": dead, "http_proxy": dead,
           "https_proxy": dead, "all_proxy": dead, "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1",
           "TRIALFINDER_API_URL": "https://clinicaltrials.invalid/api/v2"}  # fmt: skip
    env.pop("TRIALFINDER_CONFIG", None)
    command = [*_isolated(), sys.executable, "-m", "trialfinder", "demo"]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "demo with stand-in data" in done.stdout
    site = tmp_path / "demo" / "site"
    assert f"Open the site: {(site / 'index.html').as_uri()}" in done.stdout
    assert "Traceback" not in done.stderr

    index = (site / "index.html").read_text(encoding="utf-8")
    for nct_id in FIXTURE_IDS:
        assert f"study/{nct_id}.html" in index, nct_id
    assert DEMO_TITLE.replace("&", "&amp;") in index

    changes = _text((site / "changes.html").read_text(encoding="utf-8"))
    for words in ("Now recruiting", "Results posted", "New site: Example University Hospital, Freiburg, Germany"):
        assert words in changes, words
    digest = (tmp_path / "demo" / "digest.txt").read_text(encoding="utf-8")
    assert "Now recruiting (was: not yet recruiting)" in digest
    assert "(demo, stand-in data)" in digest


def test_demo_sends_nothing_and_leaves_the_project_alone(mail: Project, smtp: SmtpServer) -> None:
    mail.cli("subscribers", "add", "advocate@example.org")
    with mail.engine().connect() as conn:
        before = conn.exec_driver_sql("SELECT count(*) FROM sync_runs").scalar()
    folder = mail.path / "my-demo"
    result = mail.cli("demo", "--dir", str(folder))
    assert "stand-in" in result.stdout
    assert (folder / "site" / "changes.html").is_file()
    assert smtp.handler.received == []
    assert mail.api.requests == []  # the project's own API was never asked
    with mail.engine().connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM sync_runs").scalar() == before == 0

    again = mail.cli("demo", "--dir", str(folder))  # a second demo replaces the first
    assert "Open the site" in again.stdout
    assert (folder / MARKER).is_file()


def test_demo_refuses_a_folder_that_is_not_a_demo(project: Project) -> None:
    folder = project.path / "notes"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine", encoding="utf-8")
    result = project.cli("demo", "--dir", str(folder), expect=2)
    assert "is not empty and holds no earlier demo" in result.stderr
    assert (folder / "keep.txt").read_text(encoding="utf-8") == "mine"
    assert sorted(p.name for p in folder.iterdir()) == ["keep.txt"]
