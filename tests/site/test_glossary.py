"""The glossary in place: every page type of the rendered site links each trial word to its plain definition, the
glossary page holds every entry, the phase filter says what the phases mean, and the "About" pages come from the
content folder that config names (outside links must carry their checked date)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import Project, write_config
from tests.siteworld import build_site_world, render_world
from trialfinder import glossary
from trialfinder.config import load_config
from trialfinder.site.about import ContentError, load_about_pages

# The list, written out here on its own (not read from glossary.toml), so a term the data file loses fails
WORDS = re.compile(r"(?<![\w-])(early phase 1|phase [1-4]|nct number|placebo|randomi[sz]ed|double[- ]blind|"
                   r"inclusion criteria|exclusion criteria|eligibility criteria|sponsor|expanded access|"
                   r"enrolling by invitation|investigational site|healthy volunteers|UTC)(?![\w-])", re.I)
# where a link cannot go: a definition link there is not expected
NO_LINK = {"a", "head", "script", "style", "option", "select", "textarea", "button", "label", "summary", "dfn"}


class Words(HTMLParser):
    """The glossary words a page shows outside a link, the term links it has and the ids it defines."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.unlinked: list[str] = []
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(str(values["id"]))
        if tag == "a" and values.get("class") == "term":
            self.links.append(str(values["href"]))
        if tag not in {"br", "meta", "link", "input", "img", "hr"}:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.open:
            del self.open[len(self.open) - 1 - self.open[::-1].index(tag):]

    def handle_data(self, data: str) -> None:
        if not NO_LINK.intersection(self.open):
            self.unlinked += [m.group(0) for m in WORDS.finditer(data)]


@pytest.fixture
def site(project: Project, tmp_path: Path) -> Path:
    build_site_world(project)
    out = tmp_path / "site"
    render_world(project, out)
    return out


def test_every_page_type_links_every_glossary_word(site: Path) -> None:
    pages = sorted(site.rglob("*.html"))
    kinds = {p.relative_to(site).parts[0] if p.parent != site else p.name for p in pages}
    assert {"index.html", "changes.html", "glossary.html", "study", "about"} <= kinds
    defined = Words((site / "glossary.html").read_text(encoding="utf-8")).ids
    assert {t.id for t in glossary.terms()} <= defined
    linked: set[str] = set()
    for page in pages:
        words = Words(page.read_text(encoding="utf-8"))
        assert words.unlinked == [], f"{page.relative_to(site)}: {words.unlinked} without a definition link"
        for href in words.links:
            path, _, anchor = href.partition("#")
            assert (page.parent / path).resolve() == (site / "glossary.html").resolve() and anchor in defined
            linked.add(anchor)
    # the fixture studies use the words, so the walk above saw them
    assert {"phase-1", "phase-3", "placebo", "randomized", "double-blind", "eligibility-criteria", "sponsor",
            "nct-number", "utc"} <= linked


def test_phase_filter_says_what_each_phase_means(site: Path) -> None:
    index = (site / "index.html").read_text(encoding="utf-8")
    assert 'aria-describedby="f-phase-hint"' in index
    hint = index.split('id="f-phase-hint"')[1].split("</span>\n")[0]
    for anchor in ("early-phase-1", "phase-1", "phase-2", "phase-3", "phase-4"):
        assert f'glossary.html#{anchor}"' in hint


def test_link_terms_leaves_links_and_controls_alone() -> None:
    html = '<p>A placebo <a href="x">placebo</a><button>Phase 2</button> and Phase 2.</p>'
    out = glossary.link_terms(html, "../")
    assert out == ('<p>A <a class="term" href="../glossary.html#placebo">placebo</a> <a href="x">placebo</a>'
                   '<button>Phase 2</button> and <a class="term" href="../glossary.html#phase-2">Phase 2</a>.</p>')


def test_about_pages_from_the_configured_content_folder(project: Project, tmp_path: Path) -> None:
    shipped = load_about_pages(load_config(project.config_path))
    assert shipped[0].name == "index" and {"trials", "whim", "testing", "groups", "treatment"} <= {
        p.name for p in shipped}
    assert "mavorixafor" in next(p for p in shipped if p.name == "treatment").body.lower()
    assert all("Sources:" in p.body for p in shipped if p.name != "index")

    content = tmp_path / "words"
    content.mkdir()
    (content / "index.md").write_text("# About X\n\nSee [the register](https://example.org/x) (checked 2026-11-30)."
                                      "\n\n<script>alert(1)</script>\n", encoding="utf-8")
    write_config(project.path, project.api.base_url, extra='[site]\ncontent_dir = "words"\n')
    config = load_config(project.config_path)
    (page,) = load_about_pages(config)
    assert page.title == "About X" and "&lt;script&gt;" in page.body and "<script>" not in page.body

    (content / "more.md").write_text("# More\n\n[unchecked](https://example.org/y)\n", encoding="utf-8")
    with pytest.raises(ContentError, match=r"more\.md: the link to https://example\.org/y needs"):
        load_about_pages(config)


def test_render_with_a_bad_content_folder_is_one_line_and_exit_2(project: Project) -> None:
    project.cli("sync")
    write_config(project.path, project.api.base_url, extra='[site]\ncontent_dir = "missing"\n')
    result = project.cli("render", expect=2)
    assert result.stderr.startswith("trialfinder: error: cannot render the site: the content folder ")
    assert result.stderr.count("\n") == 1


def _one_tag_at_a_time(html: str, root: str, lang: str) -> str:
    """The linker written plainly (each tag looked at in turn), as link_terms was before it skipped ahead to the
    tags of elements that cannot hold a link: the property below holds link_terms to it."""
    skip: list[str] = []
    parts = re.split(r"(<!--.*?-->|<[^>]*>)", html, flags=re.S)
    pattern = glossary._pattern(lang)[0]

    def linked(text: str) -> str:
        return pattern.sub(lambda m: glossary._link(m, root, lang), text)

    parts[0] = linked(parts[0])
    for i in range(1, len(parts), 2):
        match = re.match(r"<\s*(/?)\s*([a-zA-Z0-9]+)", parts[i])
        if match and not parts[i].startswith("<!") and not parts[i].endswith("/>"):
            closing, name = match.group(1) == "/", match.group(2).lower()
            if name in glossary._SKIP and name not in glossary._VOID:
                if not closing:
                    skip.append(name)
                elif name in skip:
                    del skip[len(skip) - 1 - skip[::-1].index(name):]
        if not skip:
            parts[i + 1] = linked(parts[i + 1])
    return "".join(parts)


_PIECES = st.sampled_from([
    "<a href='x'>", "</a>", "<A>", "</ A>", "<head>", "</head>", "<title>", "</title>", "<button>", "</button>",
    "<label for=a>", "</label>", "<summary>", "</summary>", "<dfn>", "</dfn>", "<a/>", "<br>", "<p>", "</p>",
    "<div class='phase 2'>", "</div>", "<!-- <a> placebo -->", "<!doctype html>", "<svg><text>", "</text></svg>",
    "placebo", " Phase 2 ", "randomized", "double-blind", "sponsor.", "phase\n3", "x", " ", "\n", "&amp;", ">", "<",
])


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=40), st.sampled_from(["", "../"]), st.sampled_from(["en", "fr", "de"]))
def test_link_terms_as_one_tag_at_a_time(pieces: list[str], root: str, lang: str) -> None:
    """Whatever the nesting (unclosed, stray or repeated tags of elements that cannot hold a link, comments,
    self-closed tags), link_terms links exactly what the plain tag-by-tag linker links."""
    html = "".join(pieces)
    assert glossary.link_terms(html, root, lang) == _one_tag_at_a_time(html, root, lang)
