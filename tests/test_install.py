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
from tests.test_packaging import source_version

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_in_a_fresh_venv_syncs_against_the_fake_api(tmp_path: Path, fake_api: FakeCtGov) -> None:
    wheels = tmp_path / "wheels"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w", str(wheels), str(REPO)],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert "License classifiers are deprecated" not in built.stdout + built.stderr
    assert "project.license` as a TOML table is deprecated" not in built.stdout + built.stderr
    (wheel,) = wheels.glob("trialfinder-*.whl")
    archive = zipfile.ZipFile(wheel)
    names = archive.namelist()
    (metadata,) = (n for n in names if n.endswith(".dist-info/METADATA"))
    meta = archive.read(metadata).decode()
    assert "License-Expression: MIT" in meta and "License-File: LICENSE" in meta
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), "the wheel carries the license text"
    assert "trialfinder/migrations/env.py" in names
    assert any(n.startswith("trialfinder/migrations/versions/0001_") for n in names)
    for shipped in ("templates/base.html", "templates/static/site.js", "templates/static/site.css",
                    "templates/web_subscribe.html", "templates/email_digest.html", "templates/feed.xml",
                    "standin/server.py", "standin/whim_world.json", "templates/_js_words.html",
                    "locale/messages.pot",
                    *(f"locale/{lang}/LC_MESSAGES/messages.po" for lang in ("fr", "de", "es", "it"))):
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
    shown = subprocess.run([*command, "--version"], cwd=work, check=True, capture_output=True, text=True).stdout
    assert shown.strip() == f"trialfinder, version {source_version()}"
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
    # the offline demo, from the installed copy: the stand-in API and its fixture studies ship in the wheel
    demo = subprocess.run([*command, "demo"], cwd=work, capture_output=True, text=True, timeout=180)
    assert demo.returncode == 0, demo.stderr
    assert "stand-in data" in demo.stdout and (work / "demo" / "site" / "changes.html").is_file()
    french = (work / "demo" / "site" / "fr" / "index.html").read_text(encoding="utf-8")  # the catalogs shipped
    assert '<html lang="fr">' in french and "Essais cliniques sur le syndrome WHIM et CXCR4" in french
