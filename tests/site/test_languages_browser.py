"""Each language's pages in Debian's chromium: axe-core (WCAG 2.1 A/AA) finds nothing, each page says its language,
and the language switcher takes the filters (the query string) along, with the page's script."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import WCAG_21_AA, chromium, served, wait_until
from tests.conftest import Project, write_config
from tests.fakeapi import FakeCtGov
from tests.site.test_site_browser import csp_violations
from tests.siteworld import build_site_world
from tests.worldgen import load_fixture_studies
from trialfinder.i18n import LANGUAGES
from trialfinder.site.render import render_site

pytestmark = pytest.mark.browser
PAGES = ("index.html", "study/NCT06056297.html", "changes.html", "glossary.html")


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("languages-browser")
    with FakeCtGov(load_fixture_studies()) as api:
        project = Project(folder, api, write_config(folder, api.base_url))
        build_site_world(project)
        config = project.config
        config = dataclasses.replace(config, site=dataclasses.replace(config.site, languages=LANGUAGES))
        render_site(config, project.engine(), folder / "site")
    with served(folder / "site") as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    refused = csp_violations(opened)
    yield opened
    context.close()
    assert refused == []


@pytest.mark.parametrize("lang", LANGUAGES)
def test_no_axe_violations_in_any_language(page: Any, base_url: str, lang: str) -> None:
    from axe_playwright_python.sync_playwright import Axe

    for path in PAGES:
        page.goto(base_url + ("" if lang == "en" else f"{lang}/") + path)
        assert page.evaluate("document.documentElement.lang") == lang
        results = Axe().run(page, options=WCAG_21_AA)
        assert results.violations_count == 0, (lang, path, results.generate_report())


def test_the_language_switcher_keeps_the_filters(page: Any, base_url: str) -> None:
    page.goto(base_url + "index.html")
    page.select_option("#f-status", "recruiting")
    wait_until(page, "location.search === '?status=recruiting'")
    french = page.locator('nav.languages a[lang="fr"]')
    assert french.get_attribute("href") == "fr/index.html"  # a plain link until it is used
    with page.expect_navigation():
        french.click()
    assert page.evaluate("document.documentElement.lang") == "fr"
    assert page.evaluate("location.pathname + location.search") == "/fr/index.html?status=recruiting"
    assert page.locator("#f-status").input_value() == "recruiting"  # the filter came along, and applies
    assert "Recrutement en cours" in page.locator("#chips").inner_text()
    # what the script itself writes is French too (templates/_js_words.html)
    assert re.fullmatch(r"\d+ sur \d+ études", page.locator("#count").inner_text())
    chip = page.locator("#chips .chip").first
    assert chip.get_attribute("aria-label") == "Retirer le filtre Recrutement en cours"
    page.locator('nav.languages a[lang="de"]').focus()  # from the keyboard too
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.evaluate("document.documentElement.lang") == "de"
    assert page.evaluate("location.pathname + location.search") == "/de/index.html?status=recruiting"


def test_what_the_script_writes_takes_the_languages_own_plural_rule(page: Any, base_url: str) -> None:
    """French says "0 an" (0 and 1 are singular there), English "0 years" and "1 month" (Intl.PluralRules)."""
    page.goto(base_url + "fr/index.html")
    page.fill("#f-aged", "0")
    wait_until(page, "document.querySelectorAll('#chips .chip').length === 1")
    assert "Âge 0 an" in page.locator("#chips").inner_text() and "0 ans" not in page.locator("#chips").inner_text()
    page.goto(base_url + "index.html")
    page.fill("#f-aged", "0")
    wait_until(page, "document.querySelectorAll('#chips .chip').length === 1")
    assert "Age 0 years" in page.locator("#chips").inner_text()
    page.select_option("#f-aged-unit", "m")
    page.fill("#f-aged", "1")
    wait_until(page, "document.getElementById('chips').innerText.includes('Age 1 month')")
    assert "Age 1 months" not in page.locator("#chips").inner_text()
