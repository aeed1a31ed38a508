"""The rendered site in Debian's chromium (Playwright): filters change the visible rows and the count, the URL
reproduces a view, nearest-first sorting with a granted location, the list without JavaScript, hostile record
text, keyboard use, axe-core (WCAG 2.1 A/AA), 360 px without sideways scrolling, file:// and screenshots.

Screenshots (360 and 1280 px wide) go to a temporary folder, and also to $TRIALFINDER_SCREENSHOTS when set.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import WCAG_21_AA, chromium, served, wait_until
from tests.conftest import Project, write_config
from tests.fakeapi import FakeCtGov
from tests.site.test_render import Page
from tests.siteworld import XSS_ID, XSS_TITLE, build_site_world, render_world
from tests.worldgen import load_fixture_studies

pytestmark = pytest.mark.browser
SCREENSHOTS = os.environ.get("TRIALFINDER_SCREENSHOTS")  # read at import: conftest clears TRIALFINDER_* per test
PARIS = {"latitude": 48.8566, "longitude": 2.3522}



@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("browser-world")
    with FakeCtGov(load_fixture_studies()) as api:
        # every tier in the default list: these tests are about the filters (tiers: tests/site/test_patient_site.py)
        project = Project(folder, api, write_config(folder, api.base_url, extra="[relevance]\nshown_tiers = 3\n"))
        build_site_world(project)
        render_world(project, folder / "site")
    return folder / "site"


@pytest.fixture(scope="module")
def base_url(site: Path) -> Iterator[str]:
    with served(site) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Any, base_url: str) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    requests: list[str] = []
    opened.on("request", lambda request: requests.append(request.url))
    refused = csp_violations(opened)
    yield opened
    context.close()
    assert all(url.startswith(base_url) for url in requests), requests  # nothing is fetched from elsewhere
    assert refused == []  # the pages' own Content-Security-Policy never blocks the pages' own script or styles


def csp_violations(page: Any) -> list[str]:
    """The console messages in which the browser reports a Content-Security-Policy refusal, as they come."""
    found: list[str] = []
    page.on("console", lambda msg: found.append(msg.text) if "Content Security Policy" in msg.text else None)
    return found


def rows_in_html(site: Path) -> list[dict[str, str]]:
    """Each study row's data-* attributes and title, read from the HTML (not through the page's script)."""
    page = Page((site / "index.html").read_text(encoding="utf-8"))
    rows = [{k: str(v) for k, v in attrs.items()} for tag, attrs in page.tags if tag == "li"
            and attrs.get("class") == "study"]  # fmt: skip
    hrefs = [href for href in page.attr("a", "href") if href.startswith("study/")]
    for row, href in zip(rows, hrefs, strict=False):
        row["href"] = href
    return rows


def visible_links(page: Any) -> list[str]:
    return [str(a.get_attribute("href")) for a in page.locator("#studies > li:visible h3 a").all()]


def count_text(page: Any) -> str:
    return str(page.locator("#count").inner_text())


def test_filters_change_the_visible_rows_and_the_count(page: Any, base_url: str, site: Path) -> None:
    rows = rows_in_html(site)
    total = len(rows)
    page.goto(base_url + "index.html")
    assert count_text(page) == f"{total} of {total} studies"
    page.select_option("#f-status", "recruiting")
    recruiting = [r["href"] for r in rows if r["data-status"] == "recruiting"]
    assert 0 < len(recruiting) < total
    assert visible_links(page) == recruiting
    assert count_text(page) == f"{len(recruiting)} of {total} studies"
    page.select_option("#f-country", "France")
    in_france = [r["href"] for r in rows
                 if r["data-status"] == "recruiting" and "France" in r["data-country"].split("|")]
    assert visible_links(page) == in_france and count_text(page) == f"{len(in_france)} of {total} studies"
    assert page.url.endswith("index.html?status=recruiting&country=France")
    page.select_option("#f-status", "")
    page.select_option("#f-country", "")
    page.fill("#f-q", "plérixafor")  # accents and case do not matter
    assert set(visible_links(page)) >= {"study/NCT00967785.html"} and count_text(page) != f"{total} of {total} studies"
    page.fill("#f-q", "NCT03995108")
    assert visible_links(page) == ["study/NCT03995108.html"] and count_text(page) == f"1 of {total} studies"
    page.fill("#f-q", "no such words anywhere")
    assert visible_links(page) == [] and page.locator("#none").is_visible()
    page.get_by_role("button", name="Clear all").click()
    wait_until(page, f"document.querySelectorAll('#studies > li:not([hidden])').length === {total}")
    assert page.url.endswith("/index.html") and count_text(page) == f"{total} of {total} studies"


def test_age_sex_phase_and_type_filters(page: Any, base_url: str, site: Path) -> None:
    rows = rows_in_html(site)
    page.goto(base_url + "index.html")
    page.select_option("#f-age", "child")
    assert visible_links(page) == [r["href"] for r in rows if "child" in r["data-age"].split()]
    page.select_option("#f-age", "")
    page.select_option("#f-type", "OBSERVATIONAL")
    assert visible_links(page) == [r["href"] for r in rows if r["data-type"] == "OBSERVATIONAL"]
    page.select_option("#f-type", "")
    page.select_option("#f-phase", "PHASE3")
    assert visible_links(page) == [r["href"] for r in rows if "PHASE3" in r["data-phase"].split()]
    page.select_option("#f-phase", "")
    page.select_option("#f-sex", "MALE")
    assert visible_links(page) == [r["href"] for r in rows if r["data-sex"] in ("ALL", "MALE", "")]
    page.select_option("#f-sex", "")
    page.select_option("#f-topic", "mavorixafor")
    assert visible_links(page) == [r["href"] for r in rows if "mavorixafor" in r["data-topic"].split()]


def test_a_shared_url_opens_the_same_view_after_reload(page: Any, base_url: str, site: Path) -> None:
    page.goto(base_url + "index.html")
    page.select_option("#f-status", "open")
    page.fill("#f-q", "mavorixafor")
    page.select_option("#f-sort", "start")
    shared, links, count = page.url, visible_links(page), count_text(page)
    assert "status=open" in shared and "q=mavorixafor" in shared and "sort=start" in shared
    assert links and count.startswith(f"{len(links)} of ")
    other = page.context.new_page()
    other.goto(shared)
    assert visible_links(other) == links and count_text(other) == count
    assert other.input_value("#f-status") == "open" and other.input_value("#f-q") == "mavorixafor"
    other.reload()
    assert visible_links(other) == links and count_text(other) == count
    starts = [r["data-start"] for r in rows_in_html(site) if r["href"] in links]
    assert starts == sorted(starts, reverse=True)  # start date, newest first


def test_nearest_uses_the_location_only_when_asked(browser: Any, base_url: str) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, geolocation=PARIS,
                                  permissions=["geolocation"])  # fmt: skip
    try:
        page = context.new_page()
        page.add_init_script("""window.__asked = 0; const real = navigator.geolocation.getCurrentPosition.bind(
            navigator.geolocation); navigator.geolocation.getCurrentPosition = (...a) => { window.__asked++;
            return real(...a); };""")
        page.goto(base_url + "index.html")
        first = visible_links(page)
        assert page.evaluate("window.__asked") == 0
        page.get_by_role("button", name="Use my location").click()
        wait_until(page, "document.getElementById('f-sort').value === 'near'")
        assert page.evaluate("window.__asked") == 1
        near = visible_links(page)
        assert sorted(near) == sorted(first) and near != first
        assert page.locator("#studies > li").first.locator(".dist").inner_text().startswith(" · nearest site about")
        assert "location" not in page.url and "48.8" not in page.url  # the position is never put in the URL
        top = page.locator("#studies > li").first.get_attribute("data-country")
        assert "France" in str(top).split("|")
    finally:
        context.close()


def test_a_refused_location_keeps_the_list_and_says_so(page: Any, base_url: str) -> None:
    page.goto(base_url + "index.html")
    first = visible_links(page)
    page.get_by_role("button", name="Use my location").click()  # no permission granted in this context
    note = page.locator("#geo-note")
    note.filter(has_text="not available").wait_for()
    assert "sorted by relevance, then update" in note.inner_text()
    assert visible_links(page) == first and "sort=near" not in page.url


def test_without_javascript_every_study_is_listed(browser: Any, base_url: str, site: Path) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(base_url + "index.html?status=recruiting")
        total = len(rows_in_html(site))
        assert page.locator("#studies > li:visible").count() == total
        assert count_text(page) == f"{total} studies"
        assert not page.locator("#filters").is_visible()
        assert page.get_by_text("The filters need JavaScript. Every study is listed below.").is_visible()
    finally:
        context.close()


def test_hostile_record_text_shows_as_text_and_runs_nothing(page: Any, base_url: str) -> None:
    dialogs: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    for path in ("index.html", f"study/{XSS_ID}.html", "changes.html"):
        page.goto(base_url + path)
        assert page.get_by_text(XSS_TITLE, exact=True).first.is_visible()
    assert page.locator("script").count() == 0
    page.goto(base_url + f"study/{XSS_ID}.html")
    assert page.locator("h1").inner_text() == XSS_TITLE
    assert page.locator("img, iframe").count() == 0
    assert page.locator("svg").count() == page.locator(".map-svg, .key-svg, .timeline-svg").count()  # ours only
    assert "<script>alert(5)</script>" in page.locator(".criteria").inner_text()
    page.wait_for_timeout(200)
    assert dialogs == []


@pytest.mark.parametrize("path", ["index.html", "study/NCT06056297.html", f"study/{XSS_ID}.html", "changes.html",
                                  "glossary.html", "about/index.html", "about/treatment.html",
                                  "handout/NCT06056297.html"])
def test_no_axe_violations_wcag21_a_aa(page: Any, base_url: str, path: str) -> None:
    from axe_playwright_python.sync_playwright import Axe

    page.goto(base_url + path)
    results = Axe().run(page, options=WCAG_21_AA)
    assert results.violations_count == 0, results.generate_report()


def test_filters_work_from_the_keyboard(page: Any, base_url: str, site: Path) -> None:
    rows = rows_in_html(site)
    page.goto(base_url + "index.html")
    assert not page.locator("#nojs").is_visible()

    def tab_to(element_id: str) -> None:
        for _ in range(30):
            if page.evaluate("document.activeElement.id") == element_id:
                return
            page.keyboard.press("Tab")
        raise AssertionError(f"Tab never reached #{element_id}")

    tab_to("f-q")
    assert page.evaluate("document.activeElement.labels[0].textContent") == "Search words"
    page.keyboard.type("mavorixafor")
    with_word = visible_links(page)
    assert 0 < len(with_word) < len(rows)
    page.keyboard.press("Control+A")
    page.keyboard.press("Backspace")
    tab_to("f-status")
    assert page.evaluate("document.activeElement.labels[0].textContent") == "Recruitment"
    page.keyboard.press("ArrowDown")  # Any status -> Recruiting or starting soon
    assert page.input_value("#f-status") == "open"
    assert visible_links(page) == [r["href"] for r in rows if r["data-status"] in ("recruiting", "soon")]
    assert page.url.endswith("index.html?status=open")


def test_phone_width_needs_no_sideways_scrolling(browser: Any, base_url: str) -> None:
    context = browser.new_context(viewport={"width": 360, "height": 740}, device_scale_factor=2, is_mobile=True)
    try:
        page = context.new_page()
        for path in ("index.html", "study/NCT06056297.html", f"study/{XSS_ID}.html", "changes.html"):
            page.goto(base_url + path)
            assert page.evaluate("document.documentElement.scrollWidth") <= 360, path
        page.goto(base_url + "index.html")
        assert page.locator("#more").get_attribute("open") is None  # the list filters start folded on a phone
        page.locator("#more summary").click()
        assert page.locator("#f-status").is_visible()
        from axe_playwright_python.sync_playwright import Axe

        results = Axe().run(page, options=WCAG_21_AA)
        assert results.violations_count == 0, results.generate_report()
    finally:
        context.close()


def test_works_from_a_file_url(browser: Any, site: Path) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        refused = csp_violations(page)
        page.goto((site / "index.html").as_uri() + "?status=recruiting")
        rows = rows_in_html(site)
        recruiting = [r["href"] for r in rows if r["data-status"] == "recruiting"]
        assert visible_links(page) == recruiting
        assert count_text(page) == f"{len(recruiting)} of {len(rows)} studies"
        page.select_option("#f-status", "finished")
        assert page.url == (site / "index.html").as_uri() + "?status=finished"  # the address follows here too
        page.select_option("#f-status", "recruiting")
        page.locator("#studies > li:visible h3 a").first.click()
        assert page.url == (site / recruiting[0]).as_uri()
        assert page.locator(".foot").inner_text().count("ClinicalTrials.gov data as of") == 1
        page.get_by_role("link", name="← All studies").click()
        assert page.url.startswith((site / "index.html").as_uri())
        assert refused == []
    finally:
        context.close()


def test_screenshots_at_phone_and_desktop_width(browser: Any, base_url: str, tmp_path: Path) -> None:
    folders = [tmp_path / "screenshots"] + ([Path(SCREENSHOTS)] if SCREENSHOTS else [])
    taken = []
    for width, height in ((360, 740), (1280, 900)):
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        for name, path in (("index", "index.html"), ("index-filtered", "index.html?status=open&age=child"),
                           ("study", "study/NCT06056297.html"), ("changes", "changes.html")):  # fmt: skip
            page.goto(base_url + path)
            target = folders[0] / f"{name}-{width}.png"
            page.screenshot(path=str(target), full_page=True)
            taken.append(target)
        context.close()
    for folder in folders[1:]:
        folder.mkdir(parents=True, exist_ok=True)
        for shot in taken:
            shutil.copyfile(shot, folder / shot.name)
    assert all(shot.stat().st_size > 5000 for shot in taken)


def test_glossary_words_and_about_pages_from_a_file_url_without_javascript(browser: Any, site: Path) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto((site / "study" / "NCT06056297.html").as_uri())
        page.locator("#main a.term", has_text="placebo").first.focus()
        page.keyboard.press("Enter")  # a plain link: keyboard, touch and screen readers all reach it
        page.wait_for_url((site / "glossary.html").as_uri() + "#placebo")
        assert "dummy treatment" in page.locator("#placebo").inner_text()
        page.get_by_role("link", name="About WHIM and trials").click()
        assert page.url == (site / "about" / "index.html").as_uri()
        page.get_by_role("link", name="Where treatment stands").first.click()
        assert "April 2024" in page.locator("#main").inner_text()
    finally:
        context.close()
