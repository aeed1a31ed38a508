"""A non-editable install (the built wheel, in a fresh virtualenv) finds its migrations and templates, and runs a
real sync and the whole main job."""

from __future__ import annotations

import site
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from tests.conftest import write_config
from tests.fakeapi import FakeCtGov

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_in_a_fresh_venv_syncs_against_the_fake_api(tmp_path: Path, fake_api: FakeCtGov) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(REPO)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = wheels.glob("trialfinder-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "trialfinder/migrations/env.py" in names
    assert any(n.startswith("trialfinder/migrations/versions/0001_") for n in names)
    for shipped in ("templates/base.html", "templates/static/site.js", "templates/static/site.css",
                    "templates/web_subscribe.html", "templates/email_digest.html", "templates/feed.xml"):
        assert f"trialfinder/{shipped}" in names, shipped

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    # The fresh venv sees this one's dependencies (no network needed) but gets trialfinder only from the wheel.
    inner_site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    outer = [p for p in {*site.getsitepackages(), sysconfig.get_paths()["purelib"]} if "site-packages" in p]
    Path(inner_site, "outer-deps.pth").write_text("\n".join(outer) + "\n")
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True, timeout=300)

    work = tmp_path / "elsewhere"
    work.mkdir()
    config = write_config(work, fake_api.base_url)
    command = [str(env_dir / "bin" / "trialfinder"), "--config", str(config)]
    located = subprocess.run(
        [python, "-c", "import trialfinder.resources as r; print(r.migrations_dir())"],
        cwd=work, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert str(env_dir) in located, "must use the installed copy, not the checkout"
    synced = subprocess.run([*command, "sync"], cwd=work, capture_output=True, text=True, timeout=120)
    assert synced.returncode == 0, synced.stderr
    assert synced.stdout.startswith("sync full: ") and " 0 studies seen" not in synced.stdout
    status = subprocess.run([*command, "status"], cwd=work, capture_output=True, text=True, timeout=60)
    assert status.returncode == 0 and "full succeeded" in status.stdout
    # the README's main job, from the installed copy: sync, render, exports, feeds (digests: e-mail not set up)
    ran = subprocess.run([*command, "run"], cwd=work, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert "run succeeded" in ran.stdout and "digests skipped" in ran.stdout
    for written in ("index.html", "static/site.js", "feed.xml", "exports/studies.csv", "exports/data-dictionary.md"):
        assert (work / "site" / written).is_file(), written
