"""Summaries that help: the researchers' brief summary first and said to be theirs, the long description folded
in <details>, and a reading-time / technical-text note where the text is long."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Project
from tests.siteworld import build_site_world, render_world
from trialfinder.templating import make_environment
from trialfinder.wording import reading_note


def test_reading_note_only_for_long_text() -> None:
    assert reading_note(None) == "" and reading_note("word " * 119) == ""
    assert reading_note("word " * 120) == "technical text, about 1 minute to read"
    assert reading_note("word " * 700) == "technical text, about 4 minutes to read"


def test_summary_first_description_folded_with_its_note() -> None:
    study = {"summary": "Short *summary*.", "description": "Long text. " * 300, "official_title": ""}
    html = make_environment().get_template("_study_about.html").render(study=study)
    assert html.index("In the researchers' own words") < html.index("<em>summary</em>") < html.index("<details")
    assert "<summary>The researchers' full description (technical text, about 3 minutes to read)</summary>" in html
    assert html.index("<details") < html.index("Long text.")
    assert "own words (their summary on ClinicalTrials.gov):" in html  # short: no note


def test_study_pages_put_the_summary_before_the_record_details(project: Project, tmp_path: Path) -> None:
    build_site_world(project)
    render_world(project, tmp_path / "site")
    page = (tmp_path / "site" / "study" / "NCT03005327.html").read_text(encoding="utf-8")
    assert page.index("In the researchers' own words") < page.index("Who can join")
    assert page.index("<details class=\"long\">") < page.index("Who can join")
