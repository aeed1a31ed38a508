"""The static site from a real sync of the fixture world: golden HTML, every study a page, hostile record text
shown as text, nothing loaded from elsewhere, atomic replacement, downloads, and the `render` command.

Refresh the golden pages after an intended change with:

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/site/test_render.py

then review the diff of tests/golden/site/ before committing it.
"""

from __future__ import annotations

import os
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.conftest import Project
from tests.siteworld import XSS_ID, build_site_world, render_world
from trialfinder import wording
from trialfinder.models import Study
from trialfinder.site import render as render_module
from trialfinder.site.view import Download

GOLDEN = Path(__file__).parent.parent / "golden" / "site"
OUR_SVG = {"map-svg", "key-svg", "timeline-svg", "chart-svg"}
UPDATE_GOLDEN = bool(os.environ.get("UPDATE_GOLDEN"))  # the same switch as the digest and export golden tests


class Page(HTMLParser):
    """Every start tag with its attributes, and the visible text."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    @property
    def plain(self) -> str:
        """The visible text, whitespace collapsed."""
        return " ".join("".join(self.text).split())

    def attr(self, tag: str, name: str) -> list[str]:
        return [str(attrs.get(name)) for t, attrs in self.tags if t == tag and name in attrs]


@pytest.fixture
def site(project: Project, tmp_path: Path) -> Path:
    build_site_world(project)
    out = tmp_path / "out" / "site"
    render_world(project, out)
    return out


def html_files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.html"))


def test_golden_pages(site: Path) -> None:
    rendered = html_files(site)
    if UPDATE_GOLDEN:
        shutil.rmtree(GOLDEN, ignore_errors=True)
        for rel in rendered:
            (GOLDEN / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(site / rel, GOLDEN / rel)
    assert rendered == html_files(GOLDEN)
    for rel in rendered:
        assert (site / rel).read_text(encoding="utf-8") == (GOLDEN / rel).read_text(encoding="utf-8"), rel


def test_every_study_gets_a_page_and_current_ones_are_listed(project: Project, site: Path) -> None:
    studies = Study
    with project.engine().connect() as conn:
        all_ids = sorted(conn.execute(select(studies.c.nct_id)).scalars())
        current = conn.execute(select(func.count()).where(studies.c.removed_at.is_(None))).scalar_one()
    assert [f"study/{nct}.html" for nct in all_ids] == [p for p in html_files(site) if p.startswith("study/")]
    index = Page((site / "index.html").read_text(encoding="utf-8"))
    rows = [attrs for tag, attrs in index.tags if tag == "li" and attrs.get("class") == "study"]
    assert len(rows) == current == len(all_ids) - 1
    assert f"{current} studies" in index.plain
    links = index.attr("a", "href")
    assert "study/NCT03547830.html" in links  # removed by the scenario: still has a page, listed apart
    assert "No longer listed on ClinicalTrials.gov" in index.plain
    removed = Page((site / "study" / "NCT03547830.html").read_text(encoding="utf-8"))
    assert "This study is no longer listed on ClinicalTrials.gov (no longer on ClinicalTrials.gov)" in removed.plain
    assert wording.study_url("NCT03547830") not in removed.attr("a", "href")  # no button to a record that is gone
    assert wording.history_url("NCT03547830") in removed.attr("a", "href")
    for rel in ("index.html", "changes.html", "study/NCT06056297.html"):
        text = Page((site / rel).read_text(encoding="utf-8")).plain
        assert "ClinicalTrials.gov data as of 20 November 2026, 09:00." in text
        assert "Our last update: 20 Nov 2026 09:01 UTC" in text
        assert "Searches used: WHIM syndrome, Mavorixafor (X4P-001), CXCR4 gene, WHIM in who can join." in text


def test_row_data_and_study_page_facts(site: Path) -> None:
    index = Page((site / "index.html").read_text(encoding="utf-8"))
    rows = [attrs for tag, attrs in index.tags if tag == "li" and attrs.get("class") == "study"]
    recruiting = [a for a in rows if a["data-status"] == "recruiting"]
    assert len(recruiting) == 3 and all(a["data-topic"] for a in rows)
    page = Page((site / "study" / "NCT09990001.html").read_text(encoding="utf-8")).plain
    assert "Recruiting, since 20 November 2026." in page  # the scenario's status change, dated by the record
    assert "Now recruiting (was: not yet recruiting)" in page
    assert "https://clinicaltrials.gov/study/NCT09990001" in (site / "study" / "NCT09990001.html").read_text("utf-8")
    changes = (site / "changes.html").read_text(encoding="utf-8")
    assert changes.index("20 November 2026") < changes.index("19 November 2026")  # newest first
    assert 'href="study/NCT06056297.html"' in changes and "New site: Hôpital Necker, Paris, France" in changes


def test_hostile_record_text_is_shown_as_text(site: Path) -> None:
    for rel in ("index.html", f"study/{XSS_ID}.html", "changes.html"):
        html = (site / rel).read_text(encoding="utf-8")
        page = Page(html)
        scripts = [attrs for tag, attrs in page.tags if tag == "script"]
        assert scripts == ([{"src": "static/site.js"}] if rel == "index.html" else []), rel
        for tag, attrs in page.tags:
            assert tag not in {"img", "iframe", "b", "object", "embed"}, (rel, tag)
            if tag == "svg":  # only our maps, timelines, charts and their keys (issue 18), never a record's
                assert str(attrs.get("class")).split()[0] in OUR_SVG, (rel, attrs)
            assert not any(name.startswith("on") for name in attrs), (rel, tag, attrs)
            for name in ("href", "src", "action"):
                assert not str(attrs.get(name, "")).lower().startswith(("javascript", "data:")), (rel, attrs)
        assert "<script>alert(1)</script> WHIM & <b>bold</b>" in page.plain, rel
    study = (site / "study" / f"{XSS_ID}.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(&#34;summary&#34;)&lt;/script&gt;" in study
    assert "&lt;script&gt;alert(5)&lt;/script&gt;" in study and "&lt;iframe src=x&gt;" in study
    assert "<img" not in study and not Page(study).attr("img", "src")  # Markdown images are not made images
    assert "mailto:" not in study and "tel:" not in study  # contact fields that are not addresses are not links


def test_pages_load_nothing_from_elsewhere(site: Path) -> None:
    for rel in html_files(site):
        page = Page((site / rel).read_text(encoding="utf-8"))
        for tag, attrs in page.tags:
            if tag in {"script", "link", "img", "iframe", "source", "audio", "video"}:
                target = str(attrs.get("src") or attrs.get("href") or "")
                assert "://" not in target and not target.startswith("//"), (rel, tag, target)
    css = (site / "static" / "site.css").read_text(encoding="utf-8")
    assert "url(" not in css and "@import" not in css
    assert "fetch(" not in (site / "static" / "site.js").read_text(encoding="utf-8")
    links = Page((site / "index.html").read_text(encoding="utf-8"))
    feeds = [str(a["href"]) for t, a in links.tags if t == "link" and a.get("rel") == "alternate"]
    assert feeds == ["feed.xml", "feeds/whim.xml", "feeds/mavorixafor.xml", "feeds/cxcr4.xml",
                     "feeds/whim-eligibility.xml"]
    assert all((site / href).is_file() for href in feeds)
    study = Page((site / "study" / "NCT06056297.html").read_text(encoding="utf-8"))
    assert "../static/site.css" in study.attr("link", "href") and "../index.html" in study.attr("a", "href")


def test_rerender_is_identical_keeps_other_files_and_drops_stale_pages(project: Project, site: Path) -> None:
    before = {rel: (site / rel).read_bytes() for rel in html_files(site)}
    (site / "exports").mkdir()
    (site / "exports" / "studies.csv").write_text("kept", encoding="utf-8")
    (site / "study" / "NCT00000001.html").write_text("stale", encoding="utf-8")
    render_world(project, site)
    assert {rel: (site / rel).read_bytes() for rel in html_files(site)} == before
    assert (site / "exports" / "studies.csv").read_text(encoding="utf-8") == "kept"
    assert [p.name for p in site.parent.iterdir()] == ["site"]  # no staging folder left behind


def test_a_failed_render_leaves_the_previous_site(project: Project, site: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    before = {p.relative_to(site).as_posix(): p.read_bytes() for p in site.rglob("*") if p.is_file()}
    calls = {"n": 0}
    real_write = render_module._write

    def failing_write(path: Path, text: str) -> None:
        calls["n"] += 1
        if calls["n"] == 5:
            raise OSError("disk full")
        real_write(path, text)

    monkeypatch.setattr(render_module, "_write", failing_write)
    monkeypatch.setattr(render_module, "code_version", lambda: "new code")  # every page is rendered again
    with pytest.raises(OSError, match="disk full"):
        render_world(project, site)
    after = {p.relative_to(site).as_posix(): p.read_bytes() for p in site.rglob("*") if p.is_file()}
    assert after == before
    assert [p.name for p in site.parent.iterdir()] == ["site"]


def test_downloads_section_only_when_there_are_downloads(project: Project, site: Path) -> None:
    assert "Download the data" not in (site / "index.html").read_text(encoding="utf-8")
    offered = (Download("Studies (CSV)", "exports/studies.csv", "one row per study"),)
    render_world(project, site, downloads=offered)
    index = Page((site / "index.html").read_text(encoding="utf-8"))
    assert "Download the data (CSV)" in index.plain
    assert "exports/studies.csv" in index.attr("a", "href") and "Studies (CSV): one row per study" in index.plain


def test_render_command_and_its_one_line_errors(project: Project) -> None:
    project.cli("sync")
    result = project.cli("render")
    assert result.stderr.startswith("rendered 8 studies: 25 pages, 42 files in ")
    assert (project.path / "site" / "index.html").is_file()
    other = project.path / "elsewhere"
    project.cli("render", "-o", str(other))
    assert (other / "study" / "NCT06056297.html").is_file()
    blocker = project.path / "a-file"
    blocker.write_text("x", encoding="utf-8")
    bad = project.cli("render", "-o", str(blocker), expect=2)
    assert bad.stderr == f"trialfinder: error: cannot render into {blocker}: it is a file, not a folder\n"
    under = project.cli("render", "-o", str(blocker / "site"), expect=1)
    assert under.stderr.startswith(f"trialfinder: error: cannot write the site to {blocker / 'site'}: ")
    assert under.stderr.count("\n") == 1


def test_an_empty_database_renders_an_empty_site(project: Project, tmp_path: Path) -> None:
    result = render_world(project, tmp_path / "empty")
    assert result.studies == 0
    text = Page((tmp_path / "empty" / "index.html").read_text(encoding="utf-8")).plain
    assert "0 studies" in text and "Our last update: never" in text
    assert "No changes recorded yet." in (tmp_path / "empty" / "changes.html").read_text(encoding="utf-8")
