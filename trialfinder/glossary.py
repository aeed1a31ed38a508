"""The glossary: plain definitions of the words of trials, read from the shipped content/glossary.toml.

`link_terms` puts a link to its glossary entry on every term in the text of a rendered page (not inside links,
buttons, form controls, the <head> or scripts, where a link cannot go), so every definition is one tap or one
Enter away, is read out as a link by screen readers and needs no JavaScript. `terms_in` lists the terms a plain
text uses, for e-mails, which carry the definitions themselves.

Each entry's term and definition are messages of our catalogs (`extract_glossary` gives them to Babel's extraction);
in another language a term is also found by its translated name, and still by its English phrases (record text
stays in English).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from typing import IO, Any

from trialfinder.i18n import DEFAULT_LANGUAGE, LANGUAGES, tr

GLOSSARY_PAGE = "glossary.html"
# elements whose text cannot hold a link (or is no text on the page); glossary.html holds its terms in <dfn>
_SKIP = {"a", "head", "title", "script", "style", "option", "select", "textarea", "button", "label", "summary", "dfn"}
_TAG = re.compile(r"(<!--.*?-->|<[^>]*>)", re.S)
_TAG_NAME = re.compile(r"<\s*(/?)\s*([a-zA-Z0-9]+)")
_VOID = {"br", "hr", "img", "input", "link", "meta", "wbr", "source", "col", "area", "base", "embed", "track"}


@dataclass(frozen=True)
class Term:
    """One glossary entry."""

    id: str
    term: str
    match: tuple[str, ...]
    definition: str
    code: str = ""


def _entries() -> list[dict[str, Any]]:
    data = tomllib.loads(files("trialfinder.content").joinpath("glossary.toml").read_text(encoding="utf-8"))
    entries: list[dict[str, Any]] = data["term"]
    return entries


@lru_cache(maxsize=len(LANGUAGES))
def terms(lang: str = DEFAULT_LANGUAGE) -> tuple[Term, ...]:
    """Every entry of the shipped glossary, in its order, in `lang` (matched by its translated term too)."""
    found = []
    for t in _entries():
        source, definition = t["term"], t["definition"]  # messages of the catalogs (extract_glossary)
        term = tr(lang, source)
        match = tuple(dict.fromkeys([*t["match"], *([term] if lang != DEFAULT_LANGUAGE else [])]))
        found.append(Term(t["id"], term, match, tr(lang, definition), t.get("code", "")))
    return tuple(found)


def extract_glossary(fileobj: IO[bytes], keywords: Any, comment_tags: Any, options: Any
                     ) -> Iterator[tuple[int, str, str, list[str]]]:  # fmt: skip
    """Babel extraction method for glossary.toml (babel.cfg): every entry's term and definition, as messages."""
    text = fileobj.read().decode("utf-8")
    for entry in tomllib.loads(text)["term"]:
        for key in ("term", "definition"):
            where = text.find(entry[key])
            line = text.count("\n", 0, where) + 1 if where >= 0 else 0
            yield line, "_", entry[key], [f"glossary: {key} of {entry['id']}"]


@lru_cache(maxsize=len(LANGUAGES))
def _pattern(lang: str = DEFAULT_LANGUAGE) -> tuple[re.Pattern[str], dict[str, Term]]:
    by_phrase = {" ".join(p.lower().split()): t for t in terms(lang) for p in t.match}
    phrases = sorted(by_phrase, key=len, reverse=True)
    alternatives = "|".join(r"\s+".join(map(re.escape, p.split())) for p in phrases)
    # the lookahead of the phrases' first letters lets the engine pass most places without trying every phrase
    # (the same matches, in about half the time)
    first = "".join(sorted({re.escape(p[0]) for p in phrases}))
    return re.compile(rf"(?<![\w-])(?=[{first}])(?:{alternatives})(?![\w-])", re.I), by_phrase


def term_for(phrase: str, lang: str = DEFAULT_LANGUAGE) -> Term:
    """The entry a matched phrase belongs to."""
    return _pattern(lang)[1][" ".join(phrase.lower().split())]


def by_code(code: str, lang: str = DEFAULT_LANGUAGE) -> Term | None:
    """The entry for a ClinicalTrials.gov code (e.g. PHASE2), if the glossary has one."""
    return next((t for t in terms(lang) if t.code and t.code == code), None)


def terms_in(text: str, lang: str = DEFAULT_LANGUAGE) -> list[Term]:
    """The entries a text uses, in glossary order, each once."""
    found = {term_for(m.group(0), lang).id for m in _pattern(lang)[0].finditer(text)}
    return [t for t in terms(lang) if t.id in found]


def link_terms(html: str, root: str = "", lang: str = DEFAULT_LANGUAGE) -> str:
    """Rendered HTML with every glossary term in its text made a link to `<root>glossary.html#<id>`."""
    parts = _TAG.split(html)  # text, tag, text, tag, ..., text: the tags at the odd places
    linked = _LINKED.get((root, lang))
    if linked is None:
        linked = _LINKED.setdefault((root, lang), _Linked(root, lang))
    # one character a tag ("." for most; a letter for a tag opening or closing an element of _SKIP), so that the
    # loop below visits only those (a tenth of a page's tags); the texts between them are linked by map() at once
    codes = "".join(map(_CODES.__getitem__, parts[1::2]))
    skip: list[str] = []  # the open elements (of _SKIP) we are inside
    start = 0  # the place in `parts` of the first text after the last tag of _SKIP seen
    for found in _SKIP_CODE.finditer(codes):
        end = 2 * found.start() + 1  # that tag's place in `parts`
        if not skip:
            parts[start:end:2] = map(linked.__getitem__, parts[start:end:2])
        closing, name = _CODE_KIND[found.group()]
        if not closing:
            skip.append(name)
        elif name in skip:
            del skip[len(skip) - 1 - skip[::-1].index(name):]
        start = end + 1
    if not skip:
        parts[start::2] = map(linked.__getitem__, parts[start::2])
    return "".join(parts)


# Pages repeat their tags and most of their text (a 5,000-study site: 570,000 text pieces, 22,000 different ones per
# 3,000 pages), so what each tag and piece becomes is remembered (up to _REMEMBERED of each, then forgotten at
# once): the linker took a fifth of a first render before, a sixth with lru_cache'd calls a piece.
_REMEMBERED = 65536
_SKIP_NAMES = sorted(_SKIP)
_OPENS = {name: chr(ord("a") + i) for i, name in enumerate(_SKIP_NAMES)}
_CLOSES = {name: code.upper() for name, code in _OPENS.items()}
_CODE_KIND = {**{code: (False, name) for name, code in _OPENS.items()},
              **{code: (True, name) for name, code in _CLOSES.items()}}  # fmt: skip
_SKIP_CODE = re.compile(r"[^.]")


class _TagCodes(dict[str, str]):
    """tag -> "." or the letter of its (closing, name) when it opens or closes an element whose text cannot hold a
    link (void and self-closed elements, comments and declarations never do)."""

    def __missing__(self, tag: str) -> str:
        match = _TAG_NAME.match(tag)
        code = "."
        if match and not tag.startswith("<!"):
            closing, name = match.group(1) == "/", match.group(2).lower()
            if name in _SKIP and name not in _VOID and not tag.endswith("/>"):
                code = (_CLOSES if closing else _OPENS)[name]
        if len(self) >= _REMEMBERED:
            self.clear()
        self[tag] = code
        return code


class _Linked(dict[str, str]):
    """A piece of page text (between tags) -> the piece with its glossary terms linked, for one root and language."""

    def __init__(self, root: str, lang: str) -> None:
        super().__init__()
        self.root, self.lang = root, lang

    def __missing__(self, text: str) -> str:
        root, lang = self.root, self.lang
        linked = _pattern(lang)[0].sub(lambda match: _link(match, root, lang), text) if text else text
        if len(self) >= _REMEMBERED:
            self.clear()
        self[text] = linked
        return linked


_CODES = _TagCodes()
_LINKED: dict[tuple[str, str], _Linked] = {}


def _link(match: re.Match[str], root: str, lang: str) -> str:
    # the matched text is letters, spaces and hyphens of already escaped HTML; root and ids are our own
    return f'<a class="term" href="{root}{GLOSSARY_PAGE}#{term_for(match.group(0), lang).id}">{match.group(0)}</a>'
