"""Start-up: `trialfinder --help` and a sync's start import neither the command modules, Alembic nor Babel, and the
help of each lazily loaded command is the one its module gives; a sync's first requests leave before SQLAlchemy or
Babel loads, and are not sent twice."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest

from tests.conftest import Project
from trialfinder.cli.main import LAZY_COMMANDS, main
from trialfinder.db import open_database


@pytest.mark.parametrize("name", sorted(LAZY_COMMANDS))
def test_the_short_help_shown_is_the_commands_own(name: str) -> None:
    command = main.get_command(click.Context(main), name)
    assert command is not None
    for limit in (45, 60, 80, 100):
        shown = click.Command(name, help=LAZY_COMMANDS[name][2]).get_short_help_str(limit)
        assert shown == command.get_short_help_str(limit)


def test_help_imports_no_command_module_sqlalchemy_alembic_or_babel() -> None:
    code = ("import sys\nfrom trialfinder.cli import run\nrun(['--help'])\nprint(sorted(m for m in sys.modules "
            "if m.startswith(('alembic', 'sqlalchemy', 'babel', 'trialfinder.cli.'))))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "['trialfinder.cli.common', 'trialfinder.cli.main']"
    assert "subscribers" in out and "Commands:" in out


def test_opening_a_database_at_head_does_not_import_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    open_database(url)  # created and upgraded: Alembic was needed once
    code = f"import sys\nfrom trialfinder.db import open_database\nopen_database({url!r})\n"
    code += "print('alembic' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_a_syncs_first_requests_leave_before_sqlalchemy_or_babel_is_imported(project: Project) -> None:
    code = (
        "import sys\nfrom trialfinder.ingest import client\nseen = []\nreal = client.ApiClient.open_early\n"
        "def watch(self, searches=()):\n"
        "    seen.append((sorted(m for m in sys.modules if m.startswith(('sqlalchemy', 'alembic', 'babel'))),\n"
        "                 len(searches)))\n"
        "    return real(self, searches)\n"
        "client.ApiClient.open_early = watch\nfrom trialfinder.cli import run\n"
        f"code = run(['--config', {str(project.config_path)!r}, 'sync', '--full'])\nprint(seen, code)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == f"[([], {len(project.config.searches)})] 0"
    assert "studies seen" in out


def test_a_sync_never_imports_the_sqlalchemy_orm(project: Project) -> None:
    """The schema is Core tables (trialfinder/models.py): a sync, first or again, runs without the ORM (~0.2 s of
    imports on its start-up's critical path)."""
    code = (
        "import sys\nfrom trialfinder.cli import run\n"
        f"codes = [run(['--config', {str(project.config_path)!r}, 'sync', *mode]) for mode in (['--full'], [])]\n"
        "print(codes, sorted(m for m in sys.modules if m.startswith('sqlalchemy.orm')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[0, 0] []"


def test_the_requests_sent_early_are_not_sent_again(project: Project) -> None:
    for args in (("sync", "--full"), ("sync",), ("sync", "--full")):
        project.api.clear_log()
        project.cli(*args)
        sent = [(r.path, tuple(sorted(r.params.items()))) for r in project.api.requests]
        assert len(sent) == len(set(sent)) and sum(path == "/version" for path, _ in sent) == 1, sent
        assert any(path == "/studies" for path, _ in sent)


def test_open_early_fetches_two_pages_ahead_while_the_caller_is_busy_and_no_more(project: Project) -> None:
    import time

    from trialfinder.ingest.client import PAGES_AHEAD, ApiClient

    project.api.clear_log()
    plan = [(search.name, dict(search.params)) for search in project.config.searches]
    api = ApiClient(project.config.api)
    api.open_early(plan)
    deadline = time.monotonic() + 10
    while sum(r.path == "/studies" for r in project.api.requests) < PAGES_AHEAD and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)  # time enough to fetch more, were it allowed to
    assert [r.path for r in project.api.requests] == ["/version", *["/studies"] * PAGES_AHEAD]
    assert api.version()["apiVersion"]
    pages = list(api.iter_searches(plan))
    api.close()
    sent = [(r.path, tuple(sorted(r.params.items()))) for r in project.api.requests]
    assert len(sent) == len(set(sent)) == len(pages) + 1


def test_a_failed_early_version_is_raised_by_version_and_by_the_early_pages(project: Project) -> None:
    from trialfinder.ingest.client import ApiClient, ApiError

    project.api.fail_next("503", times=50, path="/version")  # every retry fails
    plan = [(search.name, dict(search.params)) for search in project.config.searches]
    api = ApiClient(project.config.api)
    api.open_early(plan)
    with pytest.raises(ApiError):
        api.version()
    with pytest.raises(ApiError):  # not an empty run: the pages say what went wrong too
        list(api.iter_searches(plan))
    api.close()


def test_version_asks_itself_when_the_early_fetch_was_dropped_for_other_searches(project: Project) -> None:
    from trialfinder.ingest.client import ApiClient

    plan = [(search.name, dict(search.params)) for search in project.config.searches]
    api = ApiClient(project.config.api)
    api.open_early(plan)
    pages = list(api.iter_searches(plan[:1]))  # another plan: the early pages are dropped
    assert pages and api.version()["apiVersion"]
    api.close()
