"""The handout for the doctor: `handout/<NCT id>.html`, one study on one or two printed A4/Letter pages.

It carries what an appointment needs: the title and what is tested in plain words, the key criteria (not the
record's whole eligibility text), whom to contact and where (recruiting sites first, at most SITES_SHOWN), the NCT
and other ids, a QR code to the official record, the data timestamp, and questions to ask. The QR code is an
inline SVG of the code segno encodes (site/qrmatrix.py), made at render time: nothing is fetched, the page
works from file:// and on paper.
"""

from __future__ import annotations

import re
from typing import Any
from xml.sax.saxutils import escape

from markupsafe import Markup

from trialfinder.i18n import N_
from trialfinder.site.qrmatrix import qr_matrix

QR_SCALE, QR_BORDER = 3, 2  # px per module; the quiet zone in modules
_DARK_RUN = re.compile(b"\x01+")  # a row of the matrix: 0 light, 1 dark
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
    on the shared 2-core machine), i.e. a minute more for 5,000 studies; any mask gives a valid, scannable code.
    The matrix is segno's, made for many codes at once by site/qrmatrix.py (0.01 against 0.7 ms a code); the SVG is
    written here, the same bytes as segno's `svg_inline(scale=3, border=2, dark="#000", light="#fff")` (one path of
    each row's runs of dark modules) in a fifth of its time."""
    size, modules = qr_matrix(url)
    side = size + 2 * QR_BORDER
    steps: list[str] = []
    x, y = 0, 0.0
    for row_number in range(size):
        at = QR_BORDER + 0.5 + row_number  # the middle of the row: each run is a stroke one module wide
        offset = row_number * size - QR_BORDER
        for run in _DARK_RUN.finditer(modules, row_number * size, (row_number + 1) * size):
            start, end = run.start() - offset, run.end() - offset
            dy = at - y
            steps.append(f"{'m' if steps else 'M'}{start - x} {int(dy) if dy.is_integer() else dy}h{end - start}")
            x, y = end, at
    dark = f'<path class="qrline" stroke="#000" d="{"".join(steps)}"/>'
    light = f'<path fill="#fff" d="M0 0h{side}v{side}h-{side}z"/>'
    # the title is escaped here (as segno escapes it: & < >); the rest is our own numbers: no record text as markup
    svg = (f'<svg width="{side * QR_SCALE}" height="{side * QR_SCALE}" class="segno"><title>{escape(title)}</title>'
           f'<g transform="scale({QR_SCALE})">{"".join(sorted((light, dark), key=len))}</g></svg>')
    return Markup(svg)  # noqa: S704


def sites_for_handout(sites: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """The sites to print (recruiting ones first, then in the record's order) and how many more there are."""
    ordered = sorted(sites, key=lambda site: site.get("status") != "Recruiting")
    return ordered[:SITES_SHOWN], max(0, len(sites) - SITES_SHOWN)
