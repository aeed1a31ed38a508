"""Issue 13 on the parent's world (tests/patientworld.py): open sites only, exact ages, relevance tiers, the first
import said once, the study page details, and the parent's filters in chromium giving exactly PARENT_ANSWER."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import Project, write_config
from tests.fakeapi import FakeCtGov
from tests.patientworld import (
    ELIGIBILITY_ONLY,
    IMAGING,
    PARENT_ANSWER,
    PARIS_NO_GEO,
    STOPPED,
    TWELVE_UP,
    WITHDRAWN_FR,
    build_patient_world,
)  # fmt: skip
from tests.site.test_render import Page
from trialfinder.models import ChangeEvent, table_of
from trialfinder.site.render import render_site

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Project, Path]]:
    folder = tmp_path_factory.mktemp("patient-world")
    with FakeCtGov([]) as api:
        project = Project(folder, api, write_config(folder, api.base_url))
        build_patient_world(project)
        render_site(project.config, project.engine(), folder / "site")
        yield project, folder / "site"


def rows(site: Path) -> dict[str, dict[str, str]]:
    """Each index row's data-* attributes by NCT id, in the list's order."""
    page = Page((site / "index.html").read_text(encoding="utf-8"))
    found = [{k: str(v) for k, v in attrs.items()} for tag, attrs in page.tags
             if tag == "li" and attrs.get("class") == "study"]  # fmt: skip
    ids = [href[6:-5] for href in page.attr("a", "href") if href.startswith("study/")]
    return dict(zip(ids, found, strict=False))


def study_page(site: Path, nct_id: str) -> Page:
    return Page((site / "study" / f"{nct_id}.html").read_text(encoding="utf-8"))


def test_only_open_sites_count_for_where_countries_and_nearest(world: tuple[Project, Path]) -> None:
    _, site = world
    data = rows(site)
    assert data[PARIS_NO_GEO]["data-country"] == "France|United States"  # the withdrawn Lyon site does not count
    # Paris is open but has no coordinates: its city centre from the gazetteer, marked ",c"; Lyon is shut
    assert data[PARIS_NO_GEO]["data-geo"] == "48.85,2.35,c 42.36,-71.06"
    assert data[WITHDRAWN_FR]["data-country"] == "Spain"  # its only French site is withdrawn
    assert data[STOPPED]["data-country"] == "" and "data-geo" not in data[STOPPED]  # a stopped study: none open
    index = Page((site / "index.html").read_text(encoding="utf-8")).plain
    assert "2 open sites: France, United States" in index and "No site open now (1 closed to new patients)" in index
    stopped = study_page(site, STOPPED).plain
    assert "Closed to new patients (1 site)" in stopped
    assert "The site still says “recruiting”, but the study is not recruiting" in stopped
    paris = study_page(site, PARIS_NO_GEO).plain
    assert "Open now (2 sites)" in paris and "Withdrawn (1 site)" in paris


def test_rows_carry_exact_ages_in_months(world: tuple[Project, Path]) -> None:
    _, site = world
    data = rows(site)
    assert (data[TWELVE_UP]["data-min-months"], data[TWELVE_UP]["data-max-months"]) == ("144", "")
    assert (data[PARIS_NO_GEO]["data-min-months"], data[PARIS_NO_GEO]["data-max-months"]) == ("12", "215")
    assert (data[ELIGIBILITY_ONLY]["data-min-months"], data[ELIGIBILITY_ONLY]["data-max-months"]) == ("", "215")
    assert "child" in data[TWELVE_UP]["data-age"].split()  # the age group alone cannot tell a 5-year-old apart


def test_relevance_tiers_with_their_reasons(world: tuple[Project, Path]) -> None:
    _, site = world
    data = rows(site)
    tiers = {nct_id: row["data-tier"] for nct_id, row in data.items()}
    assert tiers == {PARIS_NO_GEO: "1", TWELVE_UP: "1", ELIGIBILITY_ONLY: "1", STOPPED: "1", WITHDRAWN_FR: "2",
                     IMAGING: "3"}  # fmt: skip
    assert list(data)[-1] == IMAGING  # WHIM first, the other CXCR4 research last
    index = Page((site / "index.html").read_text(encoding="utf-8")).plain
    assert "WHIM syndrome study: WHIM in who can join" in index  # found only by the eligibility search
    assert "Related condition: Chronic Neutropenia" in index
    assert "Other CXCR4 research: found by the search CXCR4 gene" in index
    assert "1 more study (Other CXCR4 research) is not in this list. Show it too" in index
    assert "RelevanceOther CXCR4 research: found by the search CXCR4 gene" in study_page(site, IMAGING).plain


def test_the_first_import_is_said_once_and_the_real_change_is_news(world: tuple[Project, Path]) -> None:
    project, site = world
    changes = Page((site / "changes.html").read_text(encoding="utf-8")).plain
    assert changes.count("First import: 6 studies already listed") == 1
    assert "New study listed" not in changes and "Now recruiting (was: not yet recruiting)" in changes
    assert changes.index("Now recruiting") < changes.index("First import")  # newest first
    timeline = study_page(site, ELIGIBILITY_ONLY).plain
    assert "In our first import: already listed when we started following it" in timeline
    digest = project.cli("digest", "--since", "30d").stdout
    assert digest.count("First import: 6 studies") == 1 and "New study listed" not in digest
    assert "2 changes in 1 study." in digest  # now recruiting, and its Paris site
    events = table_of(ChangeEvent)
    with project.engine().connect() as conn:  # every row stays, for the export
        kinds = [kind for (kind,) in conn.execute(select(events.c.kind))]
    assert kinds.count("new_study") == 6


def test_study_page_details(world: tuple[Project, Path]) -> None:
    _, site = world
    stopped = study_page(site, STOPPED)
    assert "tel:+33144494000" in stopped.attr("a", "href")  # the country code was stored as the extension
    assert "+33 1 44 49 40 00" in stopped.plain
    dates = study_page(site, PARIS_NO_GEO).plain
    assert "June 2028 (expected)" in dates and "June 2029 (expected)" in dates
    assert dates.count("expected") == 2  # "expected" once per date, never in the label too


# How many line boxes each occurrence of a word in the page's text takes (more than 1: broken mid-word).
WORD_LINES = """word => {
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT), found = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (let at = node.data.indexOf(word); at >= 0; at = node.data.indexOf(word, at + 1)) {
      const range = document.createRange();
      range.setStart(node, at);
      range.setEnd(node, at + word.length);
      found.push(new Set(Array.from(range.getClientRects(), r => Math.round(r.top))).size);
    }
  }
  return found;
}"""


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.mark.browser
def test_the_parents_filters_give_exactly_the_right_studies(world: tuple[Project, Path]) -> None:
    _, site = world
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/index.html"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 360, "height": 800})
            page.goto(url + "?status=recruiting&age=child&country=France")
            shown = [a.get_attribute("href") for a in page.locator("#studies > li:visible h3 a").all()]
            assert shown == [f"study/{n}.html" for n in (*PARENT_ANSWER, TWELVE_UP)]  # "children" takes 12+ too
            page.fill("#f-aged", "5")
            shown = [a.get_attribute("href") for a in page.locator("#studies > li:visible h3 a").all()]
            assert shown == [f"study/{n}.html" for n in PARENT_ANSWER]
            assert page.locator("#count").inner_text() == "2 of 6 studies"
            assert page.url.endswith("index.html?status=recruiting&age=child&country=France&aged=5")
            page.select_option("#f-aged-unit", "m")  # 5 months: younger than PARIS_NO_GEO's 1 year
            shown = [a.get_attribute("href") for a in page.locator("#studies > li:visible h3 a").all()]
            assert shown == [f"study/{ELIGIBILITY_ONLY}.html"]
            page.fill("#f-aged", "")
            page.select_option("#f-status", "")
            page.select_option("#f-age", "")
            page.select_option("#f-country", "")
            assert page.locator("#studies > li:visible").count() == 5  # the imaging study is one click away
            page.click("#show-other")
            assert page.locator("#studies > li:visible").count() == 6 and page.locator("#other").is_hidden()
            page.set_viewport_size({"width": 320, "height": 700})
            page.goto(url.replace("index.html", f"study/{STOPPED}.html"))
            lines = page.evaluate(WORD_LINES, "ClinicalTrials.gov")
            assert len(lines) > 3 and set(lines) == {1}, lines  # the name never breaks mid-word
            assert page.evaluate("document.documentElement.scrollWidth") <= 320
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
