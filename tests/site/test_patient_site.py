"""Issue 13 on the parent's world (tests/patientworld.py): open sites only, exact ages, relevance tiers, the first
import said once, the study page details, and the parent's filters in chromium giving exactly PARENT_ANSWER."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.browser import WCAG_21_AA, chromium, served, wait_until
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
from trialfinder.models import ChangeEvent
from trialfinder.site.render import render_site


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
    events = ChangeEvent
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



@pytest.fixture(scope="module")
def index_url(world: tuple[Project, Path]) -> Iterator[str]:
    _, site = world
    with served(site) as url:
        yield url + "index.html"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    """A 360x800 page (the parent's phone)."""
    context = browser.new_context(viewport={"width": 360, "height": 800})
    yield context.new_page()
    context.close()


def shown(page: Any) -> list[str]:
    return [str(a.get_attribute("href")) for a in page.locator("#studies > li:visible h3 a").all()]


def hrefs(*nct_ids: str) -> list[str]:
    return [f"study/{n}.html" for n in nct_ids]


def accessible_at_320(page: Any) -> None:
    """axe-core finds no WCAG 2.1 A/AA violation in the page as it is now, and it fits a 320 px screen."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options=WCAG_21_AA)
    assert results.violations_count == 0, results.generate_report()
    page.set_viewport_size({"width": 320, "height": 700})
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    page.set_viewport_size({"width": 360, "height": 800})


def on_screen(page: Any, selector: str) -> bool:
    """The first element matching `selector` is wholly inside the viewport, not under the sticky bar."""
    box = page.locator(selector).first.bounding_box()
    bar = page.locator("#resultbar").bounding_box()
    return box is not None and box["y"] >= bar["y"] + bar["height"] - 1 and box["y"] + box["height"] <= 800


class Interactions:
    """Does the parent's task as a person would and counts every tap, choice and scroll it takes. Playwright
    scrolls an element into view by itself before acting on it: a choice off screen is counted as a scroll too."""

    def __init__(self, page: Any) -> None:
        self.page, self.count = page, 0

    def choose(self, selector: str, value: str) -> None:
        if not self.page.locator(selector).is_visible():  # folded away: unfold "More filters" first
            self.page.locator("#more summary").click()
            self.count += 1
        if not on_screen(self.page, selector):
            self.scroll_to(selector)
        before = self.page.evaluate("scrollY")
        self.page.select_option(selector, value)
        self.count += 1
        assert self.page.evaluate("scrollY") == before  # the page did not move under the parent's finger

    def scroll_to(self, selector: str) -> None:
        box = self.page.locator(selector).first.bounding_box()
        self.page.mouse.wheel(0, box["y"] - 200)  # one swipe, as far as needed
        wait_until(self.page, f"Math.abs(document.querySelector('{selector}').getBoundingClientRect().top - 200) < 2")
        self.count += 1


@pytest.mark.browser
def test_the_parents_task_takes_three_interactions_on_a_phone(phone: Any, index_url: str) -> None:
    phone.goto(index_url)
    task = Interactions(phone)
    task.choose("#f-status", "recruiting")
    task.choose("#f-age", "child")
    task.choose("#f-country", "France")
    first = "#studies > li:visible h3"
    if not on_screen(phone, first):  # the results must be on screen: if not, the parent scrolls
        task.scroll_to(first)
    assert task.count <= 3, task.count
    assert shown(phone) == hrefs(*PARENT_ANSWER, TWELVE_UP)  # "children" takes the 12+ study too
    assert phone.locator("#count").inner_text() == "3 of 6 studies"
    assert on_screen(phone, first) and phone.locator("#count").is_visible()
    chips = phone.locator("#chips .chip")
    assert [chips.nth(i).get_attribute("aria-label") for i in range(chips.count())] == [
        "Remove the filter Recruiting now", "Remove the filter Children (under 18)", "Remove the filter France"]
    phone.mouse.wheel(0, 600)  # down the list: the count and the filters stay at the top of the screen
    wait_until(phone, "scrollY > 0")
    bar = phone.locator("#resultbar").bounding_box()
    assert bar["y"] == 0 and phone.locator("#jump").is_visible()


@pytest.mark.browser
def test_a_shared_link_opens_on_its_results_with_removable_chips(phone: Any, index_url: str) -> None:
    phone.goto(index_url + "?status=recruiting&age=child&country=France")
    assert phone.locator("#more").get_attribute("open") is None  # the filters folded
    assert on_screen(phone, "#studies > li:visible h3")  # the list in view
    assert shown(phone) == hrefs(*PARENT_ANSWER, TWELVE_UP)
    chips = phone.locator("#chips .chip")
    assert chips.all_inner_texts() == ["Recruiting now\u00d7", "Children (under 18)\u00d7", "France\u00d7"]
    accessible_at_320(phone)
    chips.nth(2).focus()
    phone.keyboard.press("Enter")  # a chip is a button: the keyboard removes it
    assert phone.url.endswith("index.html?status=recruiting&age=child")
    assert phone.input_value("#f-country") == ""
    assert phone.evaluate("document.activeElement.dataset.name") == "age"  # focus stays on the chips
    assert shown(phone) == hrefs(*PARENT_ANSWER, TWELVE_UP, WITHDRAWN_FR)
    phone.keyboard.press("Space")  # a button's Space acts on key up: wait for the focus to move on before Enter
    wait_until(phone, "document.activeElement.dataset.name === 'status'")
    phone.keyboard.press("Enter")  # the focused recruitment chip, now the only one
    wait_until(phone, "!location.search")
    assert phone.url.endswith("index.html") and chips.count() == 0
    assert phone.locator("#chips").inner_text() == "No filter chosen: every study."
    assert phone.evaluate("document.activeElement.id") == "jump"  # the last chip gone: the link to the list
    assert phone.locator("#count").inner_text() == "5 of 6 studies"


@pytest.mark.browser
def test_an_empty_result_offers_the_nearest_wider_searches(phone: Any, index_url: str) -> None:
    phone.goto(index_url + "?status=recruiting&country=Spain&aged=1")  # Madrid's study starts at 2 years
    assert shown(phone) == [] and phone.locator("#none").is_visible()
    offers = phone.locator("#wider button")
    assert offers.all_inner_texts() == ["2 studies in any country", "1 study for any age"]
    assert phone.locator("#none a").count() == 0  # no e-mail set up: no sign-up offered
    accessible_at_320(phone)
    offers.first.click()
    assert shown(phone) == hrefs(*PARENT_ANSWER) and phone.url.endswith("index.html?status=recruiting&aged=1")
    assert phone.locator("#none").is_hidden()
    assert phone.evaluate("document.activeElement.id") == "list-heading"
    phone.goto(index_url + "?q=lymphoma")  # only the CXCR4 imaging study, not in the default list
    assert offers.all_inner_texts() == ["5 studies without the search words", "1 study including Other CXCR4 research"]
    offers.last.click()
    assert shown(phone) == hrefs(IMAGING) and phone.url.endswith("index.html?q=lymphoma&scope=all")


def test_an_empty_result_offers_the_alerts_when_e_mail_is_set_up(world: tuple[Project, Path], tmp_path: Path) -> None:
    project, _ = world
    config = dataclasses.replace(project.config, email=dataclasses.replace(
        project.config.email, smtp_host="smtp.example.org", from_address="trials@example.org",
        public_url="https://trials.example.org/"))
    render_site(config, project.engine(), tmp_path / "site")
    page = Page((tmp_path / "site" / "index.html").read_text(encoding="utf-8"))
    assert "https://trials.example.org/subscribe" in page.attr("a", "href")
    assert "Or hear from us when a study changes or opens: sign up for e-mail alerts." in page.plain


@pytest.mark.browser
def test_the_parents_filters_give_exactly_the_right_studies(browser: Any, index_url: str) -> None:
    page = browser.new_page(viewport={"width": 360, "height": 800})
    url = index_url
    page.goto(url + "?status=recruiting&age=child&country=France")
    assert shown(page) == hrefs(*PARENT_ANSWER, TWELVE_UP)  # "children" takes 12+ too
    page.locator("#more summary").click()  # the exact age is under "More filters", folded on a shared link
    page.fill("#f-aged", "5")
    assert shown(page) == hrefs(*PARENT_ANSWER)
    assert page.locator("#count").inner_text() == "2 of 6 studies"
    assert page.url.endswith("index.html?status=recruiting&age=child&country=France&aged=5")
    assert page.locator("#chips .chip").last.get_attribute("aria-label") == "Remove the filter Age 5 years"
    page.select_option("#f-aged-unit", "m")  # 5 months: younger than PARIS_NO_GEO's 1 year
    assert shown(page) == hrefs(ELIGIBILITY_ONLY)
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
    page.close()
