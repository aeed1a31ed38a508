"""The one Jinja2 Environment: templates from templates/, autoescape on for .html/.xml, every filter registered here.

ClinicalTrials.gov text fields are Markdown: the `markdown` filter renders them with markdown-it-py with raw HTML
off (markdown-it escapes the text and refuses javascript:/data: links) and images off (no remote loads), so API text
is never marked safe as is.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markdown_it import MarkdownIt
from markupsafe import Markup

from trialfinder import glossary, wording
from trialfinder.resources import templates_dir


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    # images off too: record text must not make pages load anything from elsewhere
    return MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).disable("image")


def markdown(text: str | None) -> Markup:
    """Markdown from a record -> HTML, with raw HTML in the source shown as text."""
    if not text:
        return Markup("")
    return Markup(_markdown().render(text))  # noqa: S704 - markdown-it with html=False escapes all source text


def human_date(value: Any) -> str:
    """'2019-06' -> 'June 2019', '2019-06-30' -> '30 June 2019', a datetime -> '23 Nov 2026 15:30 UTC'."""
    if value is None or value == "":
        return "not given"
    if isinstance(value, dt.datetime):
        return f"{value.astimezone(dt.UTC):%d %b %Y %H:%M} UTC".lstrip("0")
    if isinstance(value, dt.date):
        return f"{value:%d %B %Y}".lstrip("0")
    return _human_date_text(str(value))


@lru_cache(maxsize=4096)
def _human_date_text(text: str) -> str:
    """`human_date` of a text date; cached, as a site's pages repeat a few thousand dates (strptime is slow)."""
    for fmt, out in (("%Y-%m-%d", "%d %B %Y"), ("%Y-%m", "%B %Y"), ("%Y", "%Y")):
        try:
            return dt.datetime.strptime(text, fmt).strftime(out).lstrip("0")
        except ValueError:
            continue
    return text


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~&])")


def md_text(value: Any) -> str:
    """Record text for a Markdown document: whitespace (line breaks too) collapsed, and every character Markdown or
    inline HTML could act on backslash-escaped, so the text shows as written and can make no link, tag or heading."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(str(value or "").split()))


FILTERS = {
    "markdown": markdown,
    "md_text": md_text,
    "human_date": human_date,
    "status_words": wording.status_words,
    "recruitment_group": wording.recruitment_group,
    "phase_words": wording.phase_words,
    "study_type_words": wording.study_type_words,
    "sex_words": wording.sex_words,
    "study_url": wording.study_url,
    "history_url": wording.history_url,
    "field_words": wording.field_words,
    "terms_in": glossary.terms_in,
    "reading_note": wording.reading_note,
}


def printable_output(value: Any) -> Any:
    """Jinja2's finalize: every value a template prints loses its control characters (Markup stays Markup)."""
    if isinstance(value, Markup):
        return Markup(wording.printable(str(value)))  # noqa: S704 - removing characters cannot make markup
    if isinstance(value, str):
        return wording.printable(value)
    return value


# The static site's Content-Security-Policy (a <meta http-equiv> on every page, deploy/README.md as a header too):
# only this site's own script, styles and images; no inline script or style; forms submit to the site itself.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'"
)


@lru_cache(maxsize=1)
def make_environment() -> Environment:
    """The Environment over the shipped templates (made once, then shared: nothing changes it after this, and it
    keeps the compiled templates, so a digest run does not compile them again for every e-mail); HTML and XML
    (Atom) templates autoescape; nothing printed keeps a control character (`printable_output`)."""
    env = Environment(
        loader=FileSystemLoader(str(templates_dir())),
        autoescape=select_autoescape(enabled_extensions=("html", "xml"), default_for_string=True, default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=printable_output,
    )
    env.filters.update(FILTERS)
    env.globals.update(glossary_terms=glossary.terms(), glossary_by_code=glossary.by_code)
    env.globals["CONTENT_SECURITY_POLICY"] = CONTENT_SECURITY_POLICY
    return env
