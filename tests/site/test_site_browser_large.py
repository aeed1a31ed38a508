"""The list page with more studies than it shows at once (Debian's chromium, Playwright): the first rows, "Show
more" and the count, filters over every row (not only the shown ones), a record holding a 300-character
unbroken word that must not make any page wider than a 320 px screen, and the place box (a typed city, a site
without coordinates placed at its city's centre, the distance limit, a country, an unknown place)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import WCAG_21_AA, chromium, wait_until
from tests.conftest import Project, write_config
from tests.fakeapi import FakeCtGov
from tests.site.test_site_browser import rows_in_html
from tests.worldgen import make_study
from trialfinder.site.render import render_site

pytestmark = pytest.mark.browser
STUDIES = 150  # more than the 100 rows the page shows at once
PAGE = 100
LONG = "W" + "x" * 298 + "W"  # 300 characters, no break opportunity
LONG_ID = make_study(7)["protocolSection"]["identificationModule"]["nctId"]
LYON_ID = make_study(11)["protocolSection"]["identificationModule"]["nctId"]
LYON = (45.75, 4.85)


def lyon_study() -> dict[str, Any]:
    """Study 11, recruiting at one site in Lyon whose record gives no coordinates."""
    study = make_study(11)
    study["protocolSection"]["statusModule"]["overallStatus"] = "RECRUITING"
    study["protocolSection"]["contactsLocationsModule"]["locations"] = [
        {"facility": "Hôpital Synthétique", "status": "RECRUITING", "city": "Lyon", "country": "France"}]
    return study


def long_word_study() -> dict[str, Any]:
    """Study 7 with the unbroken word in its title, condition, keyword, treatment, sponsor, summary, criteria and
    site (facility, city and country: the country filter lists it)."""
    study = make_study(7)
    protocol = study["protocolSection"]
    protocol["identificationModule"]["briefTitle"] = f"Study of {LONG}"
    protocol["identificationModule"]["officialTitle"] = LONG
    protocol["conditionsModule"]["conditions"] = [LONG]
    protocol["descriptionModule"]["briefSummary"] = f"{LONG} {LONG}"
    protocol["eligibilityModule"]["eligibilityCriteria"] = (  # an indented line is a Markdown code block
        f"Inclusion Criteria:\n\n* {LONG}\n* https://{LONG}.org\n\n        indented: {LONG}\n\n| {LONG} | a |\n|-|-|")
    # city and country as long as their columns hold (a longer one makes the sync skip the record, issue 14)
    protocol["contactsLocationsModule"]["locations"][0].update(facility=LONG, city=LONG[:200], country=LONG[:100])
    protocol["conditionsModule"]["keywords"] = [LONG]
    protocol["armsInterventionsModule"]["interventions"][0]["name"] = LONG
    protocol["sponsorCollaboratorsModule"]["leadSponsor"]["name"] = LONG
    return study


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("large-world")
    world = [make_study(i) for i in range(STUDIES) if i not in (7, 11)] + [long_word_study(), lyon_study()]
    with FakeCtGov(world) as api:
        project = Project(folder, api, write_config(folder, api.base_url, page_size=1000,
                                                  extra="[relevance]\nshown_tiers = 3\n"))
        project.cli("sync", "--full")
        render_site(project.config, project.engine(), folder / "site")
    return folder / "site"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def shown(page: Any) -> list[str]:
    return [str(a.get_attribute("href")) for a in page.locator("#studies > li:visible h3 a").all()]


def test_the_first_rows_then_show_more(browser: Any, site: Path) -> None:
    rows = rows_in_html(site)
    assert len(rows) == STUDIES
    page = browser.new_page()
    try:
        page.goto((site / "index.html").as_uri())
        assert page.locator("#count").inner_text() == f"{STUDIES} of {STUDIES} studies"
        assert shown(page) == [r["href"] for r in rows[:PAGE]]
        assert page.locator("#more-note").inner_text() == f"Showing the first {PAGE} of {STUDIES}."
        more = page.locator("#show-more")
        assert more.inner_text() == f"Show {STUDIES - PAGE} more"
        more.focus()
        page.keyboard.press("Enter")
        assert shown(page) == [r["href"] for r in rows]
        assert page.locator("#more-rows").is_hidden()
        focused = page.evaluate("document.activeElement.getAttribute('href')")
        assert focused == rows[PAGE]["href"]  # the keyboard lands on the first study just shown
        page.select_option("#f-status", "recruiting")  # a new question starts again at its first rows
        recruiting = [r["href"] for r in rows if r["data-status"] == "recruiting"]
        assert len(recruiting) < PAGE
        assert shown(page) == recruiting
        assert page.locator("#count").inner_text() == f"{len(recruiting)} of {STUDIES} studies"
        assert page.locator("#more-rows").is_hidden()
        page.select_option("#f-status", "")
        page.fill("#f-q", LONG_ID)  # search reaches rows beyond the first hundred too
        assert shown(page) == [f"study/{LONG_ID}.html"]
    finally:
        page.close()


def test_a_300_character_word_fits_a_320_px_screen(browser: Any, site: Path) -> None:
    context = browser.new_context(viewport={"width": 320, "height": 640}, device_scale_factor=2, is_mobile=True)
    try:
        page = context.new_page()
        for path in ("index.html", f"study/{LONG_ID}.html", "changes.html"):
            page.goto((site / path).as_uri())
            page.evaluate("window.scrollTo(0, document.body.scrollHeight)")  # lay out every row
            widths = page.evaluate("[document.documentElement.scrollWidth, document.body.scrollWidth]")
            assert max(widths) <= 320, (path, widths)
        page.goto((site / f"study/{LONG_ID}.html").as_uri())
        from axe_playwright_python.sync_playwright import Axe

        results = Axe().run(page, options=WCAG_21_AA)
        assert results.violations_count == 0, results.generate_report()
    finally:
        context.close()


def km(a: tuple[float, float], b: tuple[float, float]) -> float:
    rad = math.pi / 180
    h = (math.sin((b[0] - a[0]) * rad / 2) ** 2
         + math.cos(a[0] * rad) * math.cos(b[0] * rad) * math.sin((b[1] - a[1]) * rad / 2) ** 2)  # fmt: skip
    return 12742 * math.asin(min(1.0, math.sqrt(h)))


def nearest(row: dict[str, str], here: tuple[float, float]) -> float | None:
    points = [tuple(map(float, p.split(",")[:2])) for p in row.get("data-geo", "").split()]
    return min((km(here, (p[0], p[1])) for p in points), default=None)


def test_a_typed_city_sorts_by_distance_and_limits_it(browser: Any, site: Path) -> None:
    rows = rows_in_html(site)
    lyon = next(r for r in rows if r["href"] == f"study/{LYON_ID}.html")
    assert lyon["data-geo"] == f"{LYON[0]:.2f},{LYON[1]:.2f},c"  # its city's centre, from the gazetteer
    page = browser.new_page()
    try:
        page.goto((site / "index.html").as_uri())
        assert page.evaluate("window.trialfinderPlaces === undefined")  # the gazetteer is not loaded yet
        page.fill("#f-place", "Lyon")
        page.keyboard.press("Enter")
        wait_until(page, "document.getElementById('f-sort').value === 'near'")
        assert "Sorted by distance from Lyon, France" in page.locator("#geo-note").inner_text()
        first = page.locator("#studies > li:visible").first
        assert first.locator("h3 a").get_attribute("href") == f"study/{LYON_ID}.html"
        distance = first.locator(".dist").inner_text()  # data-geo keeps 2 decimals: a few hundred metres off
        assert re.fullmatch(r" · nearest site about 0\.\d km from Lyon, France \(measured to its city's centre\)",
                            distance), distance  # fmt: skip
        assert "Lyon" not in page.url and "45.7" not in page.url  # the place never goes in the address
        page.select_option("#f-within", "300")
        expected = [r for r in rows if (d := nearest(r, LYON)) is not None and d <= 300]
        assert 0 < len(expected) < PAGE
        assert sorted(shown(page)) == sorted(r["href"] for r in expected)
        assert page.locator("#count").inner_text() == f"{len(expected)} of {STUDIES} studies"
        page.fill("#f-place", "Qqxville")
        page.get_by_role("button", name="Find the place").click()
        assert "not in this page's list of places" in page.locator("#geo-note").inner_text()
        page.fill("#f-place", "Spain")  # a country picks the country filter
        page.keyboard.press("Enter")
        assert page.input_value("#f-country") == "Spain"
        assert "Showing studies with a site in Spain" in page.locator("#geo-note").inner_text()
    finally:
        page.close()


def test_nearest_without_a_place_visibly_falls_back(browser: Any, site: Path) -> None:
    page = browser.new_page()
    try:  # the visitor refuses to share the location (file:// pages cannot be granted it in headless chromium)
        page.add_init_script("navigator.geolocation.getCurrentPosition = (ok, refused) => "
                             "setTimeout(() => refused({code: 1, message: 'User denied Geolocation'}), 50);")
        page.goto((site / "index.html").as_uri() + "?sort=near")
        assert page.input_value("#f-sort") == "updated"
        assert "Nearest first needs a place" in page.locator("#geo-note").inner_text()
        page.select_option("#f-sort", "near")
        page.locator("#geo-note").filter(has_text="not available").wait_for()
        assert page.input_value("#f-sort") == "updated"  # the box says the order really used
    finally:
        page.close()
