"""Unchanged per-study pages are kept, not rendered again (site/reuse.py): an unchanged re-render writes the same
bytes and renders no study page, handout or calendar; a changed study, changed facts on every page or changed code
render again; a deleted or edited published file comes back."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from tests.conftest import Project
from tests.siteworld import build_site_world, render_world
from trialfinder.history.events import EventRow
from trialfinder.models import Study, SyncRun
from trialfinder.site import calendar as calendar_module
from trialfinder.site import render as render_module
from trialfinder.site import reuse, worldmap
from trialfinder.site.graphics import StudyPictures
from trialfinder.site.timeline import study_timeline

PER_STUDY = ("study", "handout", "calendar")


@pytest.fixture
def site(project: Project, tmp_path: Path) -> Path:
    build_site_world(project)
    out = tmp_path / "out" / "site"
    render_world(project, out)
    return out


@pytest.fixture
def rendered(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The per-study files the next render writes itself (study pages and handouts through render's `_write`,
    calendars through calendar's `write_staged`), as paths relative to the staging folder."""
    written: list[str] = []
    real_write, real_staged = render_module._write, calendar_module.write_staged

    def write(path: Path, text: str | bytes) -> None:
        written.append(f"{path.parent.name}/{path.name}")
        real_write(path, text)

    def write_staged(path: Path, data: str | bytes) -> None:
        written.append(f"{path.parent.name}/{path.name}")
        real_staged(path, data)

    monkeypatch.setattr(render_module, "_write", write)
    monkeypatch.setattr(calendar_module, "write_staged", write_staged)
    return written


def per_study(written: list[str]) -> list[str]:
    return sorted(rel for rel in written if rel.split("/")[0] in PER_STUDY and rel != "calendar/followed.ics")


def snapshot(site: Path, manifest: bool = True) -> dict[str, bytes]:
    return {rel: p.read_bytes() for p in site.rglob("*")
            if p.is_file() and ((rel := p.relative_to(site).as_posix()) != reuse.MANIFEST or manifest)}


def test_unchanged_rerender_is_identical_and_renders_no_study_page(project: Project, site: Path,
                                                                   rendered: list[str]) -> None:  # fmt: skip
    before = snapshot(site)
    studies, about = len(list((site / "study").iterdir())), len(list((site / "about").iterdir()))
    inodes = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in site.rglob("*.html")}
    result = render_world(project, site)
    assert snapshot(site) == before
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in site.rglob("*.html")} == inodes  # left in place
    assert [rel for rel in rendered if not rel.endswith(reuse.MANIFEST)] == []  # not even the index
    kept = 3 * studies + 1 + 3 + about + 1  # followed.ics; index, changes, glossary; the about pages; places.js
    assert result.kept == kept and result.studies == studies
    assert f"; {kept} unchanged files kept)" in result.summary()
    assert reuse.MANIFEST not in result.files and (site / reuse.MANIFEST).is_file()


def test_a_changed_study_is_rendered_again_and_only_it(project: Project, site: Path, rendered: list[str]) -> None:
    with project.engine().begin() as conn:
        conn.execute(update(Study).where(Study.c.nct_id == "NCT00967785")
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


def test_new_footer_facts_are_written_into_kept_pages_exactly_as_a_render_would(
        project: Project, site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    renders: list[str] = []
    real_inner, real_handout = render_module._inner_page, render_module._handout

    def inner_page(*args: Any) -> str:
        renders.append("page")
        return real_inner(*args)

    def handout(*args: Any) -> str:
        renders.append("handout")
        return real_handout(*args)

    monkeypatch.setattr(render_module, "_inner_page", inner_page)
    monkeypatch.setattr(render_module, "_handout", handout)
    # a new sync in the same month: every page's footer changes, no study does (a new month moves the timelines'
    # "now" and renders the study pages again)
    with project.engine().begin() as conn:
        conn.execute(update(SyncRun).values(data_timestamp="2026-11-27T09:00:00.000",
                                                      finished_at=dt.datetime(2026, 11, 27, 9, 1, tzinfo=dt.UTC)))
    result = render_world(project, site)
    assert renders == []  # no study page, handout or about page was rendered
    studies, about = len(list((site / "study").iterdir())), len(list((site / "about").iterdir()))
    assert result.kept == 3 * studies + 1 + about + 1  # index, changes and glossary are rendered
    fresh = tmp_path / "fresh" / "site"
    render_world(project, fresh)
    assert snapshot(site, manifest=False) == snapshot(fresh, manifest=False)
    page = (site / "study" / "NCT00967785.html").read_text(encoding="utf-8")
    assert "2026-11-27T09:00:00.000" in page and "27 Nov 2026 09:01" in page and "20 November 2026, 09:00" not in page
    with project.engine().begin() as conn:  # and again: the offsets noted for the refreshed pages are right too
        conn.execute(update(SyncRun).values(data_timestamp="unknown"))
    renders.clear()
    render_world(project, site)
    assert renders == []
    render_world(project, fresh)
    assert snapshot(site, manifest=False) == snapshot(fresh, manifest=False)


def test_a_template_doing_more_with_a_fact_than_printing_it_turns_splicing_off(
        project: Project, site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    real_inner = render_module._inner_page

    def shouting(template: Any, variables: dict[str, Any], lang: str, facts: dict[str, Any]) -> str:
        return real_inner(template, variables, lang, facts) + facts["data_timestamp"].upper()

    monkeypatch.setattr(render_module, "code_version", lambda: "code that shouts")
    monkeypatch.setattr(render_module, "_inner_page", shouting)
    render_world(project, site)
    with project.engine().begin() as conn:
        conn.execute(update(SyncRun).values(data_timestamp="2026-12-01T09:00:00.000"))
    result = render_world(project, site)
    fresh = tmp_path / "fresh" / "site"
    render_world(project, fresh)
    assert snapshot(site, manifest=False) == snapshot(fresh, manifest=False)
    assert "2026-12-01T09:00:00.000".upper() in (site / "study" / "NCT00967785.html").read_text(encoding="utf-8")
    studies = len(list((site / "study").iterdir()))
    # the study and about pages are rendered again; kept: the calendars, followed.ics, places.js, and the handouts
    # (whose template only prints the facts) with the new facts written in
    assert result.kept == studies + 1 + 1 + studies


def test_record_text_holding_the_marks_is_never_spliced(project: Project, site: Path, tmp_path: Path) -> None:
    with project.engine().begin() as conn:  # the private-use characters that mark a fact's place, in a title
        conn.execute(update(Study).where(Study.c.nct_id == "NCT00967785")
                     .values(brief_title="Plerixafor \ue0000\ue001 and \ue0001\ue001"))  # fmt: skip
    render_world(project, site)
    with project.engine().begin() as conn:
        conn.execute(update(SyncRun).values(data_timestamp="2026-12-01T09:00:00.000"))
    render_world(project, site)
    fresh = tmp_path / "fresh" / "site"
    render_world(project, fresh)
    assert snapshot(site, manifest=False) == snapshot(fresh, manifest=False)
    assert "Plerixafor \ue0000\ue001 and" in (site / "study" / "NCT00967785.html").read_text(encoding="utf-8")


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


def test_a_new_month_renders_the_study_pages_again_for_their_timelines(project: Project, site: Path,
                                                                      rendered: list[str]) -> None:  # fmt: skip
    """A timeline is dashed from the month of our last update: a sync in a new month moves it on every page that
    has one, so those pages are rendered again, not kept (and the footer facts alone never are the reason)."""
    with project.engine().begin() as conn:
        conn.execute(update(SyncRun).values(finished_at=dt.datetime(2026, 12, 2, 9, 1, tzinfo=dt.UTC)))
    render_world(project, site)
    pages = [rel for rel in per_study(rendered) if rel.startswith("study/")]
    with_timeline = [p.name for p in (site / "study").iterdir() if 'class="timeline-fig"' in p.read_text("utf-8")]
    assert with_timeline and sorted(f"study/{name}" for name in with_timeline) == pages
    page = (site / "study" / with_timeline[0]).read_text(encoding="utf-8")
    assert "The line is dashed after our last update, December 2026." in page


def _event(event_id: int, kind: str, baseline: bool = False) -> EventRow:
    return EventRow(id=event_id, run_id=1, nct_id="NCT00000001", kind=kind, field_path=None, old=None, new=None,
                    detected_at=dt.datetime(2026, 3, 4, 5, 6, tzinfo=dt.UTC), last_update_posted=None,
                    version_hash=None, ordinal=1, brief_title="T", acronym=None, overall_status="RECRUITING",
                    removed=False, baseline=baseline)  # fmt: skip


def test_what_a_study_page_draws_its_map_and_timeline_from_is_in_its_hash() -> None:
    """A study page's map and timeline are drawn only when it renders (graphics.StudyPictures), so what they are drawn
    from besides the view dict is part of the page's input hash: each event (added, of another kind, a baseline or
    not) and the month of our last update, which only matters to a page that has a timeline."""
    undated: dict[str, Any] = {"nct_id": "NCT00000001", "sites": [], "date_values": {"start": (None, None)}}
    dated: dict[str, Any] = {**undated, "date_values": {"start": ("2025-01", "ACTUAL")}}
    shown, other = _event(1, "site_added"), _event(2, "field_changed")

    def inputs(study: dict[str, Any], month: str, *events: EventRow) -> list[Any]:
        return StudyPictures(month, {"NCT00000001": list(events)}, "en").inputs(study)

    assert inputs(undated, "2026-11") == inputs(undated, "2026-12")  # no timeline: the month is no input
    assert inputs(undated, "2026-11", other) == inputs(undated, "2026-12", other)
    assert inputs(undated, "2026-11", shown) != inputs(undated, "2026-12", shown)  # an event it draws: a timeline
    assert inputs(dated, "2026-11") != inputs(dated, "2026-12")
    assert len({str(inputs(dated, "2026-11", *events)) for events in
                [(), (shown,), (other,), (shown, other), (_event(1, "site_removed"),), (_event(1, "site_added", True),),
                 (_event(3, "site_added"),)]}) == 7  # fmt: skip
    drawn = StudyPictures("2026-11", {"NCT00000001": [shown]}, "en").draw(dated)
    assert drawn == {"map": None, "timeline": study_timeline(dated["date_values"], [shown], "2026-11", "en")}
    assert drawn["timeline"] is not None and study_timeline(undated["date_values"], [other], "2026-11", "en") is None


def test_an_unchanged_rerender_reads_no_map_shapes(project: Project, site: Path) -> None:
    """The index map and the study maps are drawn only for pages that render, so an unchanged re-render in a new
    process never reads the Natural Earth shapes (1.5 s of a 5,000-study re-render before)."""
    for cached in (worldmap.countries, worldmap._index_base, worldmap._simplified, worldmap.land_of):
        cached.cache_clear()
    render_world(project, site)
    assert worldmap.countries.cache_info().currsize == 0
    (site / "index.html").unlink()  # a page that renders draws its map again
    render_world(project, site)
    assert worldmap.countries.cache_info().currsize == 1 and 'class="land"' in (site / "index.html").read_text("utf-8")
