"""Shared fixtures: the project's fake ClinicalTrials.gov API over real HTTP, a config.toml pointing at it, and a
CLI runner. The fake serves our own synthetic WHIM fixtures (trialfinder/standin/whim_world.json). The `smtp` fixture
(a real SMTP server on 127.0.0.1) comes from tests/smtpserver.py; `mail` is a project whose config points at it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from tests import testdb
from tests.fakeapi import FakeCtGov
from tests.worldgen import load_fixture_studies
from trialfinder.cli import main
from trialfinder.config import Config, load_config
from trialfinder.db import open_database

if TYPE_CHECKING:  # imported by pytest as a plugin below, so that its asserts are rewritten too
    from tests.smtpserver import SmtpServer

pytest_plugins = ["tests.smtpserver"]

SHARED_CTGOV = Path(__file__).resolve().parent.parent.parent / "shared" / "ctgov"

# Fast, but still real: retries and backoff happen, only shorter.
FAST_API = """
[api]
base_url = "{base_url}"
page_size = {page_size}
timeout_s = 1.0
max_retries = 3
backoff_s = 0.01
min_interval_s = 0.0
"""


def write_config(directory: Path, base_url: str, page_size: int = 3, extra: str = "") -> Path:
    """A config.toml for the fake API and the folder's test database (tests/testdb.py), with extra TOML appended."""
    path = directory / "config.toml"
    text = FAST_API.format(base_url=base_url, page_size=page_size) + testdb.database_section(directory) + extra
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="session", autouse=True)
def _test_database() -> Iterator[None]:
    yield
    testdb.drop_session_database()


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """A new, empty database of the test run's kind (SQLite file or PostgreSQL schema)."""
    return testdb.url_for(tmp_path, "scratch")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in [v for v in os.environ if v.startswith("TRIALFINDER_")]:
        monkeypatch.delenv(var)


@pytest.fixture
def fake_api() -> Iterator[FakeCtGov]:
    """The fake API serving the project's WHIM fixture world."""
    with FakeCtGov(load_fixture_studies()) as api:
        yield api


@dataclass
class Project:
    """A working folder with config.toml pointing at the fake API, and helpers to run trialfinder there."""

    path: Path
    api: FakeCtGov
    config_path: Path

    @property
    def config(self) -> Config:
        return load_config(self.config_path)

    def engine(self) -> Engine:
        return open_database(self.config.database.url)

    def cli(self, *args: str, expect: int | None = 0) -> CliResult:
        result = CliRunner().invoke(main, ["--config", str(self.config_path), *args], catch_exceptions=False)
        out = CliResult(result.exit_code, result.stdout, result.stderr)
        if expect is not None:
            detail = f"exit {result.exit_code}\nstdout:{result.stdout}\nstderr:{result.stderr}"
            assert result.exit_code == expect, detail
        return out


@dataclass(frozen=True)
class CliResult:
    code: int
    stdout: str
    stderr: str


@pytest.fixture
def project(tmp_path: Path, fake_api: FakeCtGov) -> Project:
    """A project folder whose config points at the fake API with 3 studies a page."""
    return Project(tmp_path, fake_api, write_config(tmp_path, fake_api.base_url))


@pytest.fixture
def mail(project: Project, smtp: SmtpServer) -> Project:
    """The fake-API project with [email] pointing at the test SMTP server."""
    path = write_config(project.path, project.api.base_url, extra=smtp.section())
    return Project(project.path, project.api, path)
