"""First use of an empty database by many processes at once (gunicorn workers and the scheduler booting together):
the migrations are serialised, and every process starts."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import inspect

from tests.conftest import Project
from trialfinder.models import metadata


@pytest.mark.slow
def test_six_processes_on_an_empty_database_all_succeed(project: Project) -> None:
    command = [sys.executable, "-m", "trialfinder", "--config", str(project.config_path), "status"]
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(6)]  # fmt: skip
    outputs = [process.communicate(timeout=120) for process in processes]
    assert [process.returncode for process in processes] == [0] * 6, outputs
    assert all("No successful sync yet" in out for out, _ in outputs)
    tables = set(inspect(project.engine()).get_table_names())
    assert tables == set(metadata.tables) | {"alembic_version"}
