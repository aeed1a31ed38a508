"""Unchanged per-study pages are kept, not rendered again (site/reuse.py): an unchanged re-render writes the same
bytes and renders no study page, handout or calendar; a changed study, changed facts on every page or changed code
render again; a deleted or edited published file comes back."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import update

from tests.conftest import Project
from tests.siteworld import build_site_world, render_world
from trialfinder.models import Study, SyncRun, table_of
from trialfinder.site import render as render_module
from trialfinder.site import reuse

PER_STUDY = ("study", "handout", "calendar")


@pytest.fixture
def site(project: Project, tmp_path: Path) -> Path:
    build_site_world(project)
    out = tmp_path / "out" / "site"
    render_world(project, out)
    return out


@pytest.fixture
def rendered(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The per-study files the next render writes itself (study pages and handouts through `_write`, calendars
    through `write_bytes`), as paths relative to the staging folder."""
    written: list[str] = []
    real_write, real_bytes = render_module._write, Path.write_bytes

    def write(path: Path, text: str) -> None:
        written.append(f"{path.parent.name}/{path.name}")
        real_write(path, text)

    def write_bytes(path: Path, data: bytes) -> int:
        written.append(f"{path.parent.name}/{path.name}")
        return real_bytes(path, data)

    monkeypatch.setattr(render_module, "_write", write)
    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    return written


def per_study(written: list[str]) -> list[str]:
    return sorted(rel for rel in written if rel.split("/")[0] in PER_STUDY and rel != "calendar/followed.ics")


def snapshot(site: Path, manifest: bool = True) -> dict[str, bytes]:
    return {rel: p.read_bytes() for p in site.rglob("*")
            if p.is_file() and ((rel := p.relative_to(site).as_posix()) != reuse.MANIFEST or manifest)}


def test_unchanged_rerender_is_identical_and_renders_no_study_page(project: Project, site: Path,
                                                                   rendered: list[str]) -> None:  # fmt: skip
    before = snapshot(site)
    studies = len(list((site / "study").iterdir()))
    result = render_world(project, site)
    assert snapshot(site) == before
    assert per_study(rendered) == [] and "calendar/followed.ics" not in rendered
    assert result.kept == 3 * studies + 1 and result.studies == studies  # and followed.ics
    assert f"; {3 * studies + 1} unchanged files kept)" in result.summary()
    assert reuse.MANIFEST not in result.files and (site / reuse.MANIFEST).is_file()


def test_a_changed_study_is_rendered_again_and_only_it(project: Project, site: Path, rendered: list[str]) -> None:
    with project.engine().begin() as conn:
        conn.execute(update(table_of(Study)).where(table_of(Study).c.nct_id == "NCT00967785")
                     .values(brief_title="A new title for plerixafor"))  # fmt: skip
    render_world(project, site)
    assert per_study(rendered) == ["calendar/NCT00967785.ics", "handout/NCT00967785.html", "study/NCT00967785.html"]
    assert "calendar/followed.ics" in rendered  # it carries every listed study's dates
    for rel in ("study/NCT00967785.html", "handout/NCT00967785.html", "calendar/NCT00967785.ics",
                "calendar/followed.ics"):
        assert "A new title for plerixafor" in (site / rel).read_text(encoding="utf-8")
    rendered.clear()
    render_world(project, site)  # and the next render keeps it again
    assert per_study(rendered) == []


def test_facts_on_every_page_render_every_page_again(project: Project, site: Path, rendered: list[str]) -> None:
    with project.engine().begin() as conn:
        conn.execute(update(table_of(SyncRun)).values(data_timestamp="2026-12-01T09:00:00.000"))
    result = render_world(project, site)
    pages = sorted(p.relative_to(site).as_posix() for folder in ("study", "handout") for p in (site / folder).iterdir())
    assert [rel for rel in per_study(rendered) if not rel.startswith("calendar/")] == pages
    assert all("2026" in (site / rel).read_text(encoding="utf-8") for rel in pages)
    assert result.kept == len(pages) // 2 + 1  # the calendars do not show the data timestamp: kept


def test_changed_code_renders_everything_again(project: Project, site: Path, rendered: list[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setattr(render_module, "code_version", lambda: "another version")
    assert render_world(project, site).kept == 0
    assert len(per_study(rendered)) == 3 * len(list((site / "study").iterdir()))


def test_code_version_follows_the_templates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(reuse.templates_dir(), templates)
    monkeypatch.setattr(reuse, "templates_dir", lambda: templates)
    first = reuse.code_version()
    assert reuse.code_version() == first
    with open(templates / "study.html", "a", encoding="utf-8") as handle:
        handle.write("\n")
    assert reuse.code_version() != first


def test_deleted_edited_or_unreadable_state_renders_again(project: Project, site: Path,
                                                          rendered: list[str]) -> None:  # fmt: skip
    before = snapshot(site, manifest=False)  # its mtimes change with the files rendered again
    (site / "study" / "NCT00967785.html").unlink()
    (site / "handout" / "NCT00967785.html").write_text("edited by hand", encoding="utf-8")
    (site / "calendar" / "NCT00967785.ics").unlink()
    render_world(project, site)
    assert per_study(rendered) == ["calendar/NCT00967785.ics", "handout/NCT00967785.html", "study/NCT00967785.html"]
    assert snapshot(site, manifest=False) == before
    rendered.clear()
    (site / reuse.MANIFEST).write_text("{not json", encoding="utf-8")
    result = render_world(project, site)
    assert result.kept == 0 and snapshot(site, manifest=False) == before


def test_input_hash_refuses_what_it_cannot_write_exactly() -> None:
    assert reuse.input_hash({"a": 1, "b": [1, 2]}) == reuse.input_hash({"b": [1, 2], "a": 1})
    assert reuse.input_hash({"a": 1}) != reuse.input_hash({"a": 2})
    assert reuse.input_hash({"a": object()}) is None
