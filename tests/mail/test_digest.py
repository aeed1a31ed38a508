"""Digests from real syncs: the "done when" scenario, every format, filters, empty windows, bad input, escaping."""

from __future__ import annotations

import datetime as dt
import os
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt
from sqlalchemy import select

from tests.conftest import Project
from tests.history.test_events import stored_events
from tests.scenario import EXPECTED, NEW_STUDY, SENTENCES, run_scenario
from trialfinder import glossary
from trialfinder.config import load_config
from trialfinder.history.events import EventFilter, load_events
from trialfinder.mail.digest import digest_context, render_digest
from trialfinder.models import SyncRun

GOLDEN = Path(__file__).parent.parent / "golden"
SUFFIX = {"text": "txt", "markdown": "md", "html": "html"}
XSS = '<script>alert("x")</script> & <img src=x onerror=alert(1)> [click](javascript:alert(1))'


def test_done_when_scenario_events_and_digest(project: Project) -> None:
    run_scenario(project)
    assert sorted(stored_events(project)) == sorted(EXPECTED)
    text = project.cli("digest", "--since", "last-run").stdout
    for nct_id, sentence in SENTENCES.items():
        assert f"{nct_id}  " in text
        assert f"  * {sentence}\n" in text
        assert f"https://clinicaltrials.gov/study/{nct_id}?tab=history" in text
    assert "5 changes in 5 studies." in text
    # importance: new studies and recruitment, then sites; within a group, more important kinds first
    assert text.index("NEW STUDIES AND RECRUITMENT") < text.index("SITES") < text.index(SENTENCES["NCT06056297"])
    order = [text.index(SENTENCES[n]) for n in (NEW_STUDY, "NCT09990001", "NCT04154488", "NCT03547830")]
    assert order == sorted(order)
    assert "ClinicalTrials.gov data as of 2026-11-20T09:00:05" in text
    assert ("Searches: WHIM syndrome (whim), Mavorixafor (X4P-001) (mavorixafor), CXCR4 gene (cxcr4), "
            "WHIM in who can join (whim-eligibility).") in text
    assert "Now: No longer listed; record updated 6 June 2018." in text  # the removed study


def _golden_context(project: Project) -> dict[str, Any]:
    """The scenario's last-run digest with the clock-dependent header text fixed."""
    config = load_config(project.config_path)
    runs = SyncRun
    with project.engine().connect() as conn:
        run = conn.execute(select(runs).order_by(runs.c.id.desc()).limit(1)).one()
        events = load_events(conn, EventFilter(start=run.started_at))
        context = digest_context(config, conn, events, start=run.started_at, end=run.finished_at)
    context["window"] = {"start": "20 Nov 2026 09:00 UTC", "end": "20 Nov 2026 09:01 UTC"}
    context["empty_message"] = "No changes between 20 Nov 2026 09:00 UTC and 20 Nov 2026 09:01 UTC."
    context["last_sync"] = "20 Nov 2026 09:01 UTC"
    return context


@pytest.mark.parametrize("fmt", ["text", "markdown", "html"])
def test_digest_whole_output(project: Project, fmt: str) -> None:
    run_scenario(project)
    rendered = render_digest(_golden_context(project), fmt)
    golden = GOLDEN / f"digest_scenario.{SUFFIX[fmt]}"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(rendered, encoding="utf-8")
    assert rendered == golden.read_text(encoding="utf-8")


def test_empty_window_says_so(project: Project) -> None:
    project.cli("sync")
    project.cli("sync", "--full")
    for fmt in ("text", "markdown", "html"):
        out = project.cli("digest", "--since", "last-run", "--format", fmt).stdout
        assert "No changes between " in out and " and " in out
        assert "Changes between" in out  # the header is still there: window, searches, data time
    text = project.cli("digest", "--since", "last-run").stdout
    assert text.count("\n") < 16  # the header, the message and the one glossary word it uses (UTC)


def test_filters_by_search_status_and_country(project: Project) -> None:
    run_scenario(project)

    def ids(*args: str) -> set[str]:
        out = project.cli("digest", "--since", "last-run", *args).stdout
        return {n for n in SENTENCES if f"{n}  " in out}

    assert ids("--status", "recruiting") == {"NCT09990001", "NCT06056297"}
    assert ids("--status", "RECRUITING,NOT_YET_RECRUITING", "--country", "united states") == {
        "NCT09990001", NEW_STUDY, "NCT06056297"}
    assert ids("--country", "France") == {"NCT06056297"}
    assert ids("--search", "whim") == {"NCT04154488", NEW_STUDY}  # its title names WHIM syndrome
    assert ids("--search", "whim", "--search", "mavorixafor") == {"NCT04154488", "NCT06056297", NEW_STUDY}
    assert ids("--search", "cxcr4") == {"NCT09990001", "NCT03547830", "NCT06056297", NEW_STUDY}
    out = project.cli("digest", "--since", "last-run", "--status", "recruiting", "--country", "France").stdout
    assert "Only: status now Recruiting; a site in France." in out


def test_since_forms(project: Project) -> None:
    run_scenario(project)
    week = project.cli("digest").stdout  # 7 days: the first sync's import too, said once
    assert "First import: 8 studies already listed" in week and "5 changes in 5 studies." in week
    assert week.count("New study listed") == 1  # only the study that appeared after the first import
    tomorrow = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).date().isoformat()
    assert "No changes between" in project.cli("digest", "--since", tomorrow).stdout
    assert "No changes between" not in project.cli("digest", "--since", "1d").stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "yesterday"], "--since 'yesterday' is not valid; use 7d (any number of days), YYYY-MM-DD, or "
                                   "last-run"),
        (["--since", "2026-02-30"], "--since '2026-02-30' is not valid"),
        (["--format", "pdf"], "unknown --format 'pdf'; choose from: text, markdown, html"),
        (["--search", "nope"], "unknown search 'nope'; choose from: whim, mavorixafor, cxcr4, "
                                "whim-eligibility"),
        (["--status", "open"], "unknown --status 'OPEN'; choose from: RECRUITING, NOT_YET_RECRUITING,"),
        (["--country", "Narnia"], "unknown --country 'Narnia'; countries with sites: "),
    ],
)  # fmt: skip
def test_bad_values_fail_in_one_line_without_a_file(project: Project, args: list[str], message: str) -> None:
    project.cli("sync")
    target = project.path / "out" / "digest.txt"
    result = project.cli("digest", *args, "-o", str(target), expect=2)
    assert result.stderr.startswith(f"trialfinder: error: {message}")
    assert result.stderr.count("\n") == 1
    assert not target.parent.exists() or not any(target.parent.iterdir())
    if args[0] == "--country":
        assert "France" in result.stderr and "United States" in result.stderr


def test_last_run_before_any_sync(project: Project) -> None:
    result = project.cli("digest", "--since", "last-run", expect=1)
    assert result.stderr == "trialfinder: error: no sync has succeeded yet: run `trialfinder sync` first\n"


def test_output_file_is_written_whole(project: Project) -> None:
    run_scenario(project)
    target = project.path / "digests" / "week.md"
    result = project.cli("digest", "--since", "last-run", "--format", "markdown", "-o", str(target))
    assert result.stdout == ""
    assert result.stderr == f"wrote {target} (5 changes)\n"
    assert target.read_text(encoding="utf-8").startswith("# WHIM syndrome \\& CXCR4 trial finder: what changed\n")
    assert [p.name for p in target.parent.iterdir()] == ["week.md"]


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _xss_world(project: Project) -> None:
    project.cli("sync")

    def poison(record: dict[str, Any]) -> None:
        record["protocolSection"]["identificationModule"]["briefTitle"] = XSS
        record["protocolSection"]["contactsLocationsModule"]["locations"].append(
            {"facility": XSS, "city": "Paris", "country": "France"})

    project.api.update("NCT06056297", poison)
    project.cli("sync")


def test_html_digest_is_email_safe_and_escapes_record_text(project: Project) -> None:
    _xss_world(project)
    html = project.cli("digest", "--since", "last-run", "--format", "html").stdout
    parser = _Tags()
    parser.feed(html)
    tags = {tag for tag, _ in parser.tags}
    assert not tags & {"script", "img", "link", "style", "iframe", "object", "embed", "form", "video", "audio"}
    for tag, attrs in parser.tags:
        assert "src" not in attrs and not any(name.startswith("on") for name in attrs), (tag, attrs)
        if tag == "a":
            assert str(attrs["href"]).startswith("https://clinicaltrials.gov/study/NCT06056297")
    assert "url(" not in html and "@import" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;img src=x onerror=alert(1)&gt;" in html
    assert 'style="' in html


def test_markdown_and_text_digests_keep_record_text_inert(project: Project) -> None:
    _xss_world(project)
    markdown = project.cli("digest", "--since", "last-run", "--format", "markdown").stdout
    as_html = MarkdownIt("commonmark", {"html": True}).render(markdown)  # even a renderer that allows raw HTML
    assert "<script" not in as_html and "<img" not in as_html and 'href="javascript' not in as_html
    assert "&lt;script&gt;" in as_html
    text = project.cli("digest", "--since", "last-run").stdout
    assert f"New site: {XSS}, Paris, France" in text  # plain text is shown as written


@pytest.mark.parametrize("fmt", ["text", "markdown", "html"])
def test_digest_defines_the_glossary_words_it_uses(project: Project, fmt: str) -> None:
    run_scenario(project)
    context = _golden_context(project)
    context["groups"][0]["studies"][0]["title"] = "A Phase 2, Randomized, Placebo-Controlled Study"
    rendered = render_digest(context, fmt)
    words = rendered.split("Words used above" if fmt != "text" else "WORDS USED ABOVE")[1].replace("&#39;", "'")
    for term_id in ("phase-2", "randomized", "placebo", "utc"):
        term = next(t for t in glossary.terms() if t.id == term_id)
        assert term.definition in words
    assert "double-blind" not in words.lower()  # only the words the digest uses
