"""The message catalogs: every message of ours (templates, Python, the glossary), extracted with Babel exactly as
scripts/catalogs.sh extracts it, has a translation in every language's .po file, none fuzzy, none stale, each
keeping its placeholders; and the .pot a volunteer starts from is the current one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from trialfinder import i18n

REPO = Path(__file__).resolve().parent.parent
# as scripts/catalogs.sh passes them to pybabel: the Python side's tr(lang, msg), ntr(lang, one, many, n), NP_
KEYWORDS: dict[str, Any] = {**DEFAULT_KEYWORDS, "tr": (2,), "ntr": (2, 3), "NP_": (1, 2)}
TRANSLATED = [lang for lang in i18n.LANGUAGES if lang != i18n.DEFAULT_LANGUAGE]


def extracted(root: Path = REPO) -> set[Any]:
    """Every msgid (a str, or a (singular, plural) tuple) found under `root` with the project's babel.cfg."""
    with open(REPO / "babel.cfg", encoding="utf-8") as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    return {message for _file, _line, message, _comments, _context
            in extract_from_dir(str(root), method_map, options_map, keywords=KEYWORDS)}  # fmt: skip


def load(path: Path, lang: str | None = None) -> Catalog:
    with open(path, "rb") as handle:
        return read_po(handle, locale=lang)


def problems(catalog: Catalog, messages: set[Any]) -> list[str]:
    """What a catalog lacks or holds wrongly for `messages`, one line each (empty: all is well)."""
    found: list[str] = []
    ids = {m.id for m in catalog if m.id}
    found += [f"missing: {m!r}" for m in sorted(messages - ids, key=str)]
    found += [f"stale (no longer in the code): {m!r}" for m in sorted(ids - messages, key=str)]
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(strings):
            found.append(f"not translated: {message.id!r}")
        if message.fuzzy:
            found.append(f"fuzzy (check it, then remove the fuzzy flag): {message.id!r}")
    for message, errors in catalog.check():
        found += [f"{message.id!r}: {error}" for error in errors]  # e.g. a %(name)s placeholder lost
    return found


@pytest.fixture(scope="module")
def messages() -> set[Any]:
    return extracted()


def test_extraction_finds_templates_python_and_the_glossary(messages: set[Any]) -> None:
    assert "Skip to the content" in messages  # templates/base.html
    assert ("%(num)s study", "%(num)s studies") in messages  # a template's ngettext
    assert "Running, not recruiting" in messages  # wording.py, marked N_
    assert "since %(date)s" in messages  # site/view.py, tr(lang, ...)
    assert ("%(num)s new study", "%(num)s new studies") in messages  # mail/mailer.py, NP_
    assert "Double-blind" in messages  # content/glossary.toml, through glossary.extract_glossary
    assert len(messages) > 400


@pytest.mark.parametrize("lang", TRANSLATED)
def test_every_message_is_translated_in_every_catalog(lang: str, messages: set[Any]) -> None:
    catalog = load(i18n.catalog_path(lang), lang)
    assert catalog.locale is not None and catalog.locale.language == lang
    assert problems(catalog, messages) == []


def test_the_template_volunteers_start_from_is_current(messages: set[Any]) -> None:
    pot = load(i18n.locale_dir() / "messages.pot")
    assert {m.id for m in pot if m.id} == messages, "run scripts/catalogs.sh"


def test_a_new_template_string_without_translation_fails(tmp_path: Path, messages: set[Any]) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "new.html").write_text('<p>{{ _("A sentence no catalog has yet") }}</p>\n')
    new = extracted(tmp_path)
    assert new == {"A sentence no catalog has yet"}
    catalog = load(i18n.catalog_path("fr"), "fr")
    assert problems(catalog, messages | new) == ["missing: 'A sentence no catalog has yet'"]


def test_fuzzy_empty_and_broken_placeholders_are_caught(messages: set[Any]) -> None:
    catalog = load(i18n.catalog_path("de"), "de")
    catalog["Show more"].flags.add("fuzzy")
    catalog["Hello,"].string = ""
    catalog["since %(date)s"].string = "seit %(datum)s"
    found = problems(catalog, messages)
    assert "fuzzy (check it, then remove the fuzzy flag): 'Show more'" in found
    assert "not translated: 'Hello,'" in found
    assert any(line.startswith("'since %(date)s': ") for line in found), found


def test_a_fuzzy_entry_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "fr" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / "messages.po").write_text('msgid ""\nmsgstr ""\n"Language: fr\\n"\n\n#, fuzzy\nmsgid "Show more"\n'
                                        'msgstr "Afficher plus"\n\nmsgid "Hello,"\nmsgstr "Bonjour,"\n')
    monkeypatch.setattr(i18n, "locale_dir", lambda: tmp_path)
    i18n.translations.cache_clear()
    try:
        assert i18n.tr("fr", "Hello,") == "Bonjour,"
        assert i18n.tr("fr", "Show more") == "Show more"
    finally:
        i18n.translations.cache_clear()
