"""The one Jinja2 Environment: templates from templates/, autoescape on for .html/.xml, every filter registered here.

ClinicalTrials.gov text fields are Markdown: the `markdown` filter renders them with markdown-it-py with raw HTML
off (markdown-it escapes the text and refuses javascript:/data: links) and images off (no remote loads), so API text
is never marked safe as is.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache, partial
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_eval_context, select_autoescape
from jinja2.nodes import EvalContext
from markdown_it import MarkdownIt
from markupsafe import Markup, escape

from trialfinder import glossary, i18n, wording
from trialfinder.resources import templates_dir


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    # images off too: record text must not make pages load anything from elsewhere
    return MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).disable("image")


def markdown(text: str | None) -> Markup:
    """Markdown from a record -> HTML, with raw HTML in the source shown as text."""
    if not text:
        return Markup("")
    return _rendered(text)


@lru_cache(maxsize=4096)  # records repeat boilerplate (eligibility texts, sponsors' standard summaries)
def _rendered(text: str) -> Markup:
    return Markup(_markdown().render(text))  # noqa: S704 - markdown-it with html=False escapes all source text


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~&])")


def md_text(value: Any) -> str:
    """Record text for a Markdown document: whitespace (line breaks too) collapsed, and every character Markdown or
    inline HTML could act on backslash-escaped, so the text shows as written and can make no link, tag or heading."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(str(value or "").split()))


FILTERS = {
    "markdown": markdown,
    "md_text": md_text,
    "recruitment_group": wording.recruitment_group,
    "study_url": wording.study_url,
    "history_url": wording.history_url,
}
# Filters that speak a language: each Environment binds them to its own (make_environment(lang)).
LANGUAGE_FILTERS = {
    "human_date": i18n.human_date,
    "status_words": wording.status_words,
    "group_words": wording.group_words,
    "phase_words": wording.phase_words,
    "study_type_words": wording.study_type_words,
    "sex_words": wording.sex_words,
    "field_words": wording.field_words,
    "terms_in": glossary.terms_in,
    "reading_note": wording.reading_note,
    "number": i18n.format_number,
    "record": lambda value, lang: escape(value) if lang == "en" else Markup('<span lang="en">%s</span>') % value,
}


def printable_output(value: Any) -> Any:
    """Jinja2's finalize: every value a template prints loses its control characters (Markup stays Markup)."""
    if isinstance(value, str) and _find_control(value) is not None:  # nearly never: the value itself
        cleaned = wording.printable(value)
        return Markup(cleaned) if isinstance(value, Markup) else cleaned  # noqa: S704 - removing characters
    return value


_find_control = wording.find_control  # called for every value a page prints: one lookup less each time


# The static site's Content-Security-Policy (a <meta http-equiv> on every page, deploy/README.md as a header too):
# only this site's own script, styles and images; no inline script or style; forms submit to the site itself.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'"
)


_DICT_ATTRIBUTES = frozenset(dir(dict))


class _Environment(Environment):
    """Jinja2's Environment with `a.b` on a plain dict (the views are dicts) looked up as the key first, when `b` is
    no attribute of dict: Jinja2 tries the attribute first and finds the key after an AttributeError, which the
    pages' two million lookups a 5,000-study render paid for. The same value either way: a plain dict has no other
    attributes."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        """`obj.attribute` in a template."""
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                pass  # Jinja2's own lookup says what is undefined
        return super().getattr(obj, attribute)


@lru_cache(maxsize=len(i18n.LANGUAGES))
def make_environment(lang: str = i18n.DEFAULT_LANGUAGE) -> Environment:
    """The Environment over the shipped templates for one language (made once per language by this one factory,
    then shared: nothing changes it after this, and it keeps the compiled templates, so a digest run does not compile
    them again for every e-mail); HTML and XML (Atom) templates autoescape; nothing printed keeps a control character
    (`printable_output`). Jinja2's i18n extension gives the templates `_()`/`ngettext()` (new style: autoescaped,
    `%(name)s` filled from keyword arguments) over `lang`'s catalog; the language filters speak `lang` too."""
    env = _Environment(
        loader=FileSystemLoader(str(templates_dir())),
        autoescape=select_autoescape(enabled_extensions=("html", "xml"), default_for_string=True, default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=printable_output,
        extensions=["jinja2.ext.i18n"],
        auto_reload=False,  # templates do not change under a running process: no stat() of each include per page
    )
    translations = i18n.translations(lang)
    env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
    fast = _new_style_gettext(translations.gettext)  # `_` too: the extension's alias would call it through Jinja
    env.globals.update(gettext=fast, _=fast)
    env.filters.update(FILTERS)
    env.filters.update({name: partial(_in_language, function, lang) for name, function in LANGUAGE_FILTERS.items()})
    env.globals.update(glossary_terms=glossary.terms(lang), glossary_by_code=partial(glossary.by_code, lang=lang))
    # record text (ClinicalTrials.gov's, in English) is marked lang="en" on the pages of other languages
    record_lang = Markup("") if lang == "en" else Markup(' lang="en"')
    env.globals.update(lang=lang, record_lang=record_lang, CONTENT_SECURITY_POLICY=CONTENT_SECURITY_POLICY)
    return env


def _new_style_gettext(translate: Callable[[str], str]) -> Callable[..., str]:
    """Jinja2's new-style `gettext` (autoescaped: Markup; always %-formatted from the keyword arguments), with a
    message given no arguments translated and formatted once per Environment: the pages call `_()` about 50 times
    each, and Jinja2's own wrapper (through two more `Context.call`s) was a tenth of a first render."""
    plain: dict[tuple[str, bool], str] = {}

    @pass_eval_context
    def gettext(eval_ctx: EvalContext, string: str, /, **variables: Any) -> str:
        if variables:
            return _formatted(translate(string), eval_ctx.autoescape, variables)
        key = (string, eval_ctx.autoescape)
        if key not in plain:
            plain[key] = _formatted(translate(string), eval_ctx.autoescape, variables)
        return plain[key]

    return gettext


def _formatted(text: str, autoescape: bool, variables: dict[str, Any]) -> str:
    return (Markup(text) if autoescape else text) % variables  # noqa: S704 - our catalogs' text, as Jinja2 does


def _in_language(function: Any, lang: str, value: Any, *args: Any) -> Any:
    return function(value, *args, lang=lang)
