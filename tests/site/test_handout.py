"""The handout for the doctor, printed to PDF by Debian's chromium: at most two A4 pages for the fixture world's
largest study, with its contacts, its ids and the QR code (an inline SVG) to the official record."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import segno

from tests.browser import chromium
from tests.conftest import Project
from tests.siteworld import build_site_world, render_world
from trialfinder.site.handout import qr_svg

pytestmark = pytest.mark.browser


@pytest.fixture
def site(project: Project, tmp_path: Path) -> Path:
    build_site_world(project)
    render_world(project, tmp_path / "site")
    return tmp_path / "site"


@pytest.fixture
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def test_largest_study_prints_on_at_most_two_a4_pages(browser: Any, site: Path) -> None:
    from pypdf import PdfReader

    largest = max((site / "study").glob("NCT*.html"), key=lambda p: p.stat().st_size)
    handout = site / "handout" / largest.name
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(handout.as_uri())
        page.emulate_media(media="print")
        qr = page.locator(".qr svg")
        assert qr.count() == 1 and qr.is_visible() and qr.locator("path").count() >= 1
        assert not page.locator("header.top").is_visible()  # the site's navigation stays off the paper
        pdf = PdfReader(io.BytesIO(page.pdf(format="A4", print_background=False)))
    finally:
        context.close()
    assert 1 <= len(pdf.pages) <= 2
    text = " ".join(" ".join((p.extract_text() or "").split()) for p in pdf.pages)
    html = handout.read_text(encoding="utf-8")
    assert largest.stem in text and "Whom to contact" in text and "Questions to ask" in text
    contacts = [line.split("mailto:")[1].split('"')[0] for line in html.splitlines() if "mailto:" in line]
    assert contacts and all(email in text for email in contacts)  # every printed contact is on the paper
    assert "data as of" in text


def test_every_study_page_links_its_handout(site: Path) -> None:
    for page in (site / "study").glob("NCT*.html"):
        html = page.read_text(encoding="utf-8")
        assert f'href="../handout/{page.name}">Print for your doctor</a>' in html
        assert (site / "handout" / page.name).is_file()


@pytest.mark.parametrize("url", ["https://clinicaltrials.gov/study/NCT00967785", "https://clinicaltrials.gov/study/"
                                 "NCT99999999?tab=history&a=1", "https://example.org/" + "x" * 300, "https://a.b/"])
def test_qr_svg_is_segnos_own_svg(url: str) -> None:
    """The QR code's SVG, written here from segno's matrix, is byte for byte segno's svg_inline (same modules,
    same quiet zone, same scale), with the title escaped as segno escapes it."""
    title = "Code QR : l'étude <NCT> & \"co\""
    expected = segno.make(url, error="m", mask=0).svg_inline(scale=3, border=2, title=title, dark="#000",
                                                             light="#fff")  # fmt: skip
    assert str(qr_svg(url, title)) == expected
