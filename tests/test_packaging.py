"""Packaging facts a packager checks: one version (trialfinder/__init__.py) everywhere it shows, a real license,
pinned test tools, and quick-start scripts that stop with one line on a Python older than 3.11."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import tomllib
from pathlib import Path

from click.testing import CliRunner

from trialfinder import __version__
from trialfinder.cli import main
from trialfinder.config_sections import DEFAULT_USER_AGENT, ApiConfig

REPO = Path(__file__).resolve().parent.parent


def source_version() -> str:
    """The version written in trialfinder/__init__.py, the one place it lives (pyproject.toml reads it from there)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "version" not in project["project"] and project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "trialfinder.__version__"}
    (line,) = [line for line in (REPO / "trialfinder/__init__.py").read_text().splitlines() if "__version__ =" in line]
    return line.split("=", 1)[1].strip().strip('"')


def test_the_version_comes_from_one_place_everywhere() -> None:
    version = source_version()
    assert __version__ == version == importlib.metadata.version("trialfinder")  # what pip installed agrees
    shown = CliRunner().invoke(main, ["--version"])
    assert shown.exit_code == 0 and shown.output.strip() == f"trialfinder, version {version}"
    assert DEFAULT_USER_AGENT.startswith(f"trialfinder/{version} (")
    assert ApiConfig().user_agent_header == DEFAULT_USER_AGENT
    assert ApiConfig(user_agent="mirror-bot/2").user_agent_header == "mirror-bot/2"
    other_places = [p for p in ("config.toml", "README.md", "pyproject.toml", "trialfinder/config_sections.py")
                    if f"trialfinder/{version}" in (REPO / p).read_text() or f'"{version}"' in (REPO / p).read_text()]
    assert other_places == []


def test_license_is_mit_in_spdx_form_with_its_text() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    assert (REPO / "LICENSE").read_text().startswith("MIT License\n")


def test_every_tool_gating_the_test_script_is_pinned_exactly() -> None:
    pins = {}
    for line in (REPO / "constraints" / "test.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"{line!r} is not an exact pin"
            pins[name.strip().lower()] = version.strip()
    test_extra = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["test"]
    names = {requirement.split(">")[0].split("<")[0].split("=")[0].split("[")[0].strip().lower()
             for requirement in test_extra}
    assert names <= set(pins), f"not pinned: {sorted(names - set(pins))}"
    assert "-c constraints/test.txt" in (REPO / "scripts" / "test.sh").read_text()


def _old_python(tmp_path: Path) -> Path:
    fake = tmp_path / "python3.10"
    fake.write_text('#!/bin/sh\nif [ "$1" = "-V" ]; then echo "Python 3.10.12"; exit 0; fi\nexit 1\n')
    fake.chmod(0o755)
    return fake


def test_quick_start_scripts_refuse_an_old_python_in_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHON": str(_old_python(tmp_path)), "VENV": str(tmp_path / "no-venv")}
    for script in ("scripts/run.sh", "scripts/test.sh"):
        done = subprocess.run([str(REPO / script)], env=env, capture_output=True, text=True, timeout=30)
        assert done.returncode == 2, (script, done.stderr)
        assert done.stdout == ""
        assert done.stderr.count("\n") == 1 and "needs Python 3.11 or newer" in done.stderr
        assert "Python 3.10.12" in done.stderr
        assert not (tmp_path / "no-venv").exists()
    missing = {**env, "PYTHON": str(tmp_path / "nowhere" / "python3")}
    done = subprocess.run([str(REPO / "scripts/run.sh")], env=missing, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "was not found" in done.stderr and done.stderr.count("\n") == 1
