"""A render whose inputs are all unchanged (site/inputs.py) keeps every file without building the view; a change to
any one input (a row of a table the site reads, the last run, a setting, an about page, the downloads, the code,
a published file) takes the whole path, and the site is then exactly what a render into an empty folder makes."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import delete, func, select, update

from tests.conftest import Project
from tests.siteworld import build_site_world
from trialfinder.config import Config
from trialfinder.models import ChangeEvent, Study, StudyLocation, StudySearch, SyncRun
from trialfinder.site import inputs as inputs_module
from trialfinder.site import render as render_module
from trialfinder.site import reuse
from trialfinder.site.about import content_folder
from trialfinder.site.render import RenderResult, render_site
from trialfinder.site.view import Download

PLERIXAFOR = "NCT00967785"


@dataclasses.dataclass
class Setup:
    """What a render is given besides the database."""

    config: Config
    downloads: tuple[Download, ...] = ()


@pytest.fixture
def views(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The languages of every view built from now on."""
    built: list[str] = []
    real = render_module.build_site_view

    def build(config: Config, conn: Any, downloads: Any = (), lang: str = "en") -> Any:
        built.append(lang)
        return real(config, conn, downloads, lang)

    monkeypatch.setattr(render_module, "build_site_view", build)
    return built


@pytest.fixture
def world(project: Project, tmp_path: Path) -> tuple[Project, Path]:
    build_site_world(project)
    site = tmp_path / "out" / "site"
    render(project, Setup(project.config), site)
    return project, site


def render(project: Project, setup: Setup, out: Path) -> RenderResult:
    return render_site(setup.config, project.engine(), out, downloads=setup.downloads)


def inputs_key(site: Path) -> str:
    """The hash of the inputs of the site's last render, from its manifest."""
    key = orjson.loads((site / reuse.MANIFEST).read_bytes())["inputs"]
    assert isinstance(key, str) and len(key) == 64
    return key


def files(site: Path) -> dict[str, bytes]:
    """Every file of the site, the manifest without the files' mtimes (which no two renders share)."""
    found = {}
    for path in site.rglob("*"):
        if path.name == reuse.MANIFEST:
            manifest = orjson.loads(path.read_bytes())
            for entry in manifest["pages"].values():
                entry.pop("mtime_ns")
            found[reuse.MANIFEST] = orjson.dumps(manifest, option=orjson.OPT_SORT_KEYS)
        elif path.is_file():
            found[path.relative_to(site).as_posix()] = path.read_bytes()
    return found


def test_an_unchanged_rerender_builds_no_view_and_keeps_every_file(world: tuple[Project, Path],
                                                                   views: list[str]) -> None:  # fmt: skip
    project, site = world
    before = files(site)
    stamps = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in site.rglob("*") if p.suffix in (".html", ".ics")}
    first = render(project, Setup(project.config), site)
    again = render(project, Setup(project.config), site)
    assert views == [] and files(site) == before
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in stamps} == stamps  # left where they are
    assert (again.studies, again.pages, again.files, again.kept) == (first.studies, first.pages, first.files,
                                                                     first.kept)  # fmt: skip
    assert again.studies == len(list((site / "study").iterdir())) and again.kept > 3 * again.studies


def _study(project: Project, setup: Setup, _tmp: Path, _patch: pytest.MonkeyPatch) -> None:
    with project.engine().begin() as conn:
        conn.execute(update(Study).where(Study.c.nct_id == PLERIXAFOR).values(brief_title="A new title"))


def _site_withdrawn(project: Project, setup: Setup, _tmp: Path, _patch: pytest.MonkeyPatch) -> None:
    with project.engine().begin() as conn:
        first = conn.execute(select(func.min(StudyLocation.c.id))).scalar_one()
        conn.execute(update(StudyLocation).where(StudyLocation.c.id == first).values(status="WITHDRAWN"))


def _search_left(project: Project, setup: Setup, _tmp: Path, _patch: pytest.MonkeyPatch) -> None:
    with project.engine().begin() as conn:
        nct_id, name = conn.execute(select(StudySearch.c.nct_id, StudySearch.c.search_name)).first() or ("", "")
        conn.execute(delete(StudySearch).where(StudySearch.c.nct_id == nct_id, StudySearch.c.search_name == name))


def _event_gone(project: Project, setup: Setup, _tmp: Path, _patch: pytest.MonkeyPatch) -> None:
    with project.engine().begin() as conn:
        last = conn.execute(select(func.max(ChangeEvent.c.id))).scalar_one()
        conn.execute(delete(ChangeEvent).where(ChangeEvent.c.id == last))


def _new_run_facts(project: Project, setup: Setup, _tmp: Path, _patch: pytest.MonkeyPatch) -> None:
    with project.engine().begin() as conn:
        conn.execute(update(SyncRun).values(data_timestamp="2026-11-27T09:00:00.000"))


def _title(project: Project, setup: Setup, _tmp: Path, _patch: pytest.MonkeyPatch) -> None:
    setup.config = dataclasses.replace(setup.config, site=dataclasses.replace(setup.config.site, title="WHIM trials"))


def _about_page(project: Project, setup: Setup, tmp: Path, _patch: pytest.MonkeyPatch) -> None:
    content = tmp / "content"
    shutil.copytree(content_folder(setup.config), content)
    with open(content / "index.md", "a", encoding="utf-8") as handle:
        handle.write("\nOne more line from the patients' group.\n")
    setup.config = dataclasses.replace(setup.config, site=dataclasses.replace(setup.config.site,
                                                                              content_dir=str(content)))  # fmt: skip


def _downloads(project: Project, setup: Setup, _tmp: Path, _patch: pytest.MonkeyPatch) -> None:
    setup.downloads = (Download("Studies (CSV)", "exports/studies.csv", "one row per study"),)


def _code(project: Project, setup: Setup, _tmp: Path, patch: pytest.MonkeyPatch) -> None:
    real = inputs_module.view_code
    patch.setattr(inputs_module, "view_code", lambda: real() + " and a change")


CHANGES: dict[str, Callable[[Project, Setup, Path, pytest.MonkeyPatch], None]] = {
    "a study's row": _study, "a site withdrawn": _site_withdrawn, "a search's member gone": _search_left,
    "an event gone": _event_gone, "the last run's facts": _new_run_facts, "the site's title": _title,
    "an about page": _about_page, "the downloads": _downloads, "the code that builds the view": _code,
}  # fmt: skip


@pytest.mark.parametrize("change", CHANGES)
def test_any_changed_input_builds_the_view_and_renders_what_an_empty_folder_gets(
        world: tuple[Project, Path], views: list[str], tmp_path: Path, change: str,
        monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    project, site = world
    setup = Setup(project.config)
    old = inputs_key(site)
    CHANGES[change](project, setup, tmp_path, monkeypatch)
    render(project, setup, site)
    assert views == ["en"] and inputs_key(site) != old
    render(project, setup, tmp_path / "fresh")
    assert files(site) == files(tmp_path / "fresh")
    render(project, setup, site)  # and the next render is the short one again
    assert views == ["en", "en"]


@pytest.mark.parametrize("edit", ["deleted", "edited", "touched"])
def test_a_published_file_not_as_the_manifest_notes_builds_the_view(world: tuple[Project, Path], views: list[str],
                                                                    edit: str) -> None:  # fmt: skip
    project, site = world
    before = files(site)
    page = site / "handout" / f"{PLERIXAFOR}.html"
    if edit == "deleted":
        page.unlink()
    elif edit == "edited":  # the same size, another mtime
        page.write_bytes(page.read_bytes().replace(b"<", b"[", 1))
    else:
        os.utime(page, ns=(page.stat().st_atime_ns, page.stat().st_mtime_ns + 1))
    render(project, Setup(project.config), site)
    assert views == ["en"] and files(site) == before


def test_render_processes_is_no_input(world: tuple[Project, Path]) -> None:
    """The number of processes changes how fast the same bytes are made, not the bytes (tests/site/test_forked.py)."""
    project, _site = world
    config = project.config
    more = dataclasses.replace(config, site=dataclasses.replace(config.site, render_processes=3))
    with project.engine().connect() as conn:
        assert (inputs_module.render_inputs(config, conn, "en", ()).key
                == inputs_module.render_inputs(more, conn, "en", ()).key)  # fmt: skip
        assert (inputs_module.render_inputs(config, conn, "en", ()).key
                != inputs_module.render_inputs(config, conn, "de", ()).key)  # fmt: skip


def test_two_processes_hash_the_same_inputs_alike(world: tuple[Project, Path]) -> None:
    """The daily run renders in a new process each time: its inputs hash must not depend on the process (string
    hashing is seeded per process, so no set's order may reach the hash)."""
    project, site = world
    keys = []
    for seed in ("1", "2"):
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRIALFINDER_")}
        env |= {"PYTHONHASHSEED": seed, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
        command = [sys.executable, "-m", "trialfinder", "-q", "--config", str(project.config_path), "render"]
        done = subprocess.run([*command, "-o", str(site)], capture_output=True, text=True, timeout=300, env=env)
        assert done.returncode == 0, done.stderr
        keys.append(inputs_key(site))
    assert keys[0] == keys[1]
