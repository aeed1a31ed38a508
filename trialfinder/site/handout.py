"""The handout for the doctor: `handout/<NCT id>.html`, one study on one or two printed A4/Letter pages.

It carries what an appointment needs: the title and what is tested in plain words, the key criteria (not the
record's whole eligibility text), whom to contact and where (recruiting sites first, at most SITES_SHOWN), the NCT
and other ids, a QR code to the official record, the data timestamp, and questions to ask. The QR code is an
inline SVG made here by segno at render time: nothing is fetched, the page works from file:// and on paper.
"""

from __future__ import annotations

from typing import Any

import segno
from markupsafe import Markup

from trialfinder.i18n import N_

SITES_SHOWN = 8  # keeps the largest record within two A4 pages (tests/site/test_handout.py prints it)
QUESTIONS = (
    N_("Could this study fit me (or my child)? Is anything in the criteria likely to rule us out?"),
    N_("What would taking part mean: visits, tests, travel, time off school or work?"),
    N_("What are the possible benefits and risks compared with my current care?"),
    N_("Would I keep my current treatment? What happens when the study ends?"),
    N_("Who pays for what (travel, tests, the study medicine)?"),
    N_("Can you contact the study team for us, or send the records they need?"),
)


def qr_svg(url: str, title: str) -> Markup:
    """An inline SVG QR code for `url` (segno, error correction M), titled for screen readers.

    The mask is fixed: letting segno score all eight took 3 times as long (16.6 ms against 5.6 ms a code, measured
    on the shared 2-core machine), i.e. a minute more for 5,000 studies; any mask gives a valid, scannable code."""
    svg = segno.make(url, error="m", mask=0).svg_inline(scale=3, border=2, title=title, dark="#000", light="#fff")
    # segno writes the SVG itself from our own URL and escapes the title: no record text is put in as markup
    return Markup(svg)  # noqa: S704


def sites_for_handout(sites: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """The sites to print (recruiting ones first, then in the record's order) and how many more there are."""
    ordered = sorted(sites, key=lambda site: site.get("status") != "Recruiting")
    return ordered[:SITES_SHOWN], max(0, len(sites) - SITES_SHOWN)
