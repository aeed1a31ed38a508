"""The site in each configured language: English at the root, the others in <lang>/, each page declaring its
language, linking its other languages (hreflang and the switcher, plain links), record text marked lang="en" and
labelled, dates and numbers in the page's language; a language no longer configured is removed."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from tests.conftest import Project
from tests.site.test_render import Page
from tests.siteworld import build_site_world
from trialfinder.config import Config
from trialfinder.i18n import LANGUAGES
from trialfinder.site.render import render_site

PAGES = ("index.html", "changes.html", "glossary.html", "study/NCT00967785.html", "handout/NCT00967785.html",
         "about/index.html")  # fmt: skip


def with_languages(config: Config, languages: tuple[str, ...]) -> Config:
    return dataclasses.replace(config, site=dataclasses.replace(config.site, languages=languages))


@pytest.fixture
def site(project: Project, tmp_path: Path) -> Path:
    build_site_world(project)
    out = tmp_path / "site"
    render_site(with_languages(project.config, LANGUAGES), project.engine(), out)
    return out


def folder(site: Path, lang: str) -> Path:
    return site if lang == "en" else site / lang


def test_each_language_declares_itself_and_links_the_others(site: Path) -> None:
    for lang, rel in ((lang, rel) for lang in LANGUAGES for rel in PAGES):
        path = folder(site, lang) / rel
        page = Page(path.read_text(encoding="utf-8"))
        assert page.attr("html", "lang") == [lang], rel
        alternates = {str(attrs["hreflang"]): attrs["href"] for tag, attrs in page.tags
                      if tag == "link" and attrs.get("rel") == "alternate" and attrs.get("hreflang")}  # fmt: skip
        assert set(alternates) == set(LANGUAGES), rel
        for other, href in alternates.items():
            assert (path.parent / str(href)).resolve() == (folder(site, other) / rel).resolve(), (rel, other)
        switcher = [attrs for tag, attrs in page.tags if tag == "a" and "lang-link" in str(attrs.get("class"))]
        assert [a["lang"] for a in switcher] == list(LANGUAGES)
        assert [a.get("aria-current") for a in switcher].count("page") == 1
        for link in switcher:  # plain links: they work without JavaScript
            assert (path.parent / str(link["href"])).resolve() == (folder(site, str(link["lang"])) / rel).resolve()


def test_french_pages_are_french_and_record_text_is_marked_english(site: Path) -> None:
    index = (site / "fr" / "index.html").read_text(encoding="utf-8")
    assert "<h1>Essais cliniques sur le syndrome WHIM et CXCR4</h1>" in index
    assert "Recrutement" in index and "Skip to the content" not in index
    study = (site / "fr" / "study" / "NCT00967785.html").read_text(encoding="utf-8")
    page = Page(study)
    assert "Qui peut participer" in page.plain and "Who can join" not in page.plain
    assert re.search(r'<h1 lang="en">[^<]*Plerixafor', study, re.I)
    assert '<div class="prose" lang="en">' in study  # the researchers' summary
    assert '<div class="prose criteria" lang="en">' in study
    assert "en anglais, tel que les chercheurs l'ont écrit" in page.plain  # the label, translated
    assert "février 2019" in page.plain  # Babel's month names
    assert "February" not in page.plain
    english = (site / "study" / "NCT00967785.html").read_text(encoding="utf-8")
    marked = re.findall(r'<([a-z0-9]+)[^>]* lang="en"', english)
    assert marked == ["html", "a"]  # the page and its own switcher link: no record text to mark on English pages


    # feeds (English) and exports stay at the site's root
    assert (site / "feed.xml").is_file() and not (site / "fr" / "feed.xml").exists()
    page = Page((site / "de" / "index.html").read_text(encoding="utf-8"))
    assert "../feed.xml" in page.attr("a", "href")
    assert "../feed.xml" in page.attr("link", "href")


def test_a_language_no_longer_configured_is_removed(project: Project, tmp_path: Path) -> None:
    build_site_world(project)
    out = tmp_path / "site"
    render_site(with_languages(project.config, ("en", "it")), project.engine(), out)
    assert (out / "it" / "index.html").is_file()
    (out / "notes").mkdir()  # somebody else's folder is left alone
    result = render_site(with_languages(project.config, ("en",)), project.engine(), out)
    assert not (out / "it").exists() and (out / "notes").is_dir()
    assert "lang-link" not in (out / "index.html").read_text(encoding="utf-8")
    assert not any(rel.startswith("it/") for rel in result.files)


def test_unknown_language_is_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[site]\nlanguages = ["en", "fr", "pt"]\n')
    result = Project(tmp_path, None, config).cli("status", expect=2)  # type: ignore[arg-type]
    assert result.stderr == (f"trialfinder: error: {config} line 2: 'site.languages': 'pt' is not one of ours; use "
                             "some of en, fr, de, es, it\n")  # fmt: skip
