"""The maps in Debian's chromium, from file:// (issue 18): Tab to a country on the index map and Enter filters the
list and the count like the country filter; without JavaScript the country's link opens the filtered address; a
study map's markers lead to their sites by keyboard; axe-core finds nothing on the pages with maps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser import WCAG_21_AA, wait_until
from tests.site.test_site_browser import browser, count_text, rows_in_html, site, visible_links  # noqa: F401

pytestmark = pytest.mark.browser


def tab_to(page: Any, expression: str, presses: int = 120) -> None:
    """Press Tab until `expression` (about document.activeElement) is true."""
    for _ in range(presses):
        if page.evaluate(expression):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {expression}")


def test_tab_to_a_country_and_enter_filters_the_list_from_a_file_url(browser: Any, site: Path) -> None:  # noqa: F811
    rows = rows_in_html(site)
    in_france = [r["href"] for r in rows if "France" in r["data-country"].split("|")]
    assert 0 < len(in_france) < len(rows)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.goto((site / "index.html").as_uri())
        tab_to(page, "document.activeElement.getAttribute('data-country') === 'France'"
                     " && document.activeElement.closest('svg') !== null")  # fmt: skip
        assert page.evaluate("document.activeElement.getAttribute('aria-label')").startswith("France: ")
        page.keyboard.press("Enter")
        wait_until(page, "document.getElementById('f-country').value === 'France'")
        assert visible_links(page) == in_france
        assert count_text(page) == f"{len(in_france)} of {len(rows)} studies"
        assert page.url == (site / "index.html").as_uri() + "?country=France"
        assert page.locator('svg a[data-country="France"]').get_attribute("aria-current") == "true"
        from axe_playwright_python.sync_playwright import Axe

        results = Axe().run(page, options=WCAG_21_AA)
        assert results.violations_count == 0, results.generate_report()
    finally:
        context.close()


def test_without_javascript_a_country_link_opens_the_filtered_address(browser: Any, site: Path) -> None:  # noqa: F811
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto((site / "index.html").as_uri())
        page.locator('svg a[data-country="France"]').focus()  # France's box is mostly sea (French Guiana...)
        page.keyboard.press("Enter")
        page.wait_for_url((site / "index.html").as_uri() + "?country=France")
    finally:
        context.close()


def test_study_map_markers_lead_to_their_sites_by_keyboard(browser: Any, site: Path) -> None:  # noqa: F811
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.goto((site / "study" / "NCT06056297.html").as_uri())
        assert page.locator(".map-svg a.marker").count() >= 2
        tab_to(page, "document.activeElement.classList.contains('marker')")
        target = page.evaluate("document.activeElement.getAttribute('href')")
        page.keyboard.press("Enter")
        wait_until(page, f"location.hash === '{target}'")
        assert page.locator(f"li{target}").is_visible()
        from axe_playwright_python.sync_playwright import Axe

        results = Axe().run(page, options=WCAG_21_AA)
        assert results.violations_count == 0, results.generate_report()
    finally:
        context.close()
