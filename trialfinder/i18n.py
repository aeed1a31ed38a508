"""Languages: our gettext message catalogs (trialfinder/locale/<lang>/LC_MESSAGES/messages.po) and Babel's dates
and numbers, always for a language passed in explicitly (there is no current-language state anywhere).

The .po files are read with babel.messages.pofile when first needed and compiled in memory (babel.messages.mofile),
so an editable install, a wheel and a plain checkout all work without a compile step, and a volunteer's edit of a
.po file shows at the next run. Fuzzy entries are not used (their msgid shows instead) and the catalog test fails
on them. English is the source language: its "catalog" is the msgids themselves.
"""

from __future__ import annotations

import datetime as dt
import gettext as gettext_module
import re
from functools import lru_cache
from io import BytesIO
from pathlib import Path
from typing import Any

# Babel is imported by the functions that use it, when first called: the CLI's start (`--help`, the first requests
# of a sync) imports this module through `wording` and needs none of it.

# The languages we ship a catalog for, English (the source) first.
LANGUAGES = ("en", "fr", "de", "es", "it")
DEFAULT_LANGUAGE = "en"
DOMAIN = "messages"
# What each language is called in itself, for the language switcher and the sign-up form.
NATIVE_NAMES = {"en": "English", "fr": "Français", "de": "Deutsch", "es": "Español", "it": "Italiano"}


def N_(message: str) -> str:
    """Marks a module-level string for extraction; it is translated where it is shown (`tr(lang, ...)`)."""
    return message


def NP_(singular: str, plural: str) -> tuple[str, str]:
    """Marks a module-level (singular, plural) pair for extraction; `ntr(lang, *pair, n)` says it."""
    return singular, plural


def locale_dir() -> Path:
    """The folder of the shipped catalogs (trialfinder/locale, package data)."""
    return Path(__file__).resolve().parent / "locale"


def catalog_path(lang: str) -> Path:
    """Where a language's .po file is."""
    return locale_dir() / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def check_language(lang: str) -> str:
    """`lang` when we have it; ValueError naming the languages we have otherwise."""
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}; use one of {', '.join(LANGUAGES)}")
    return lang


@lru_cache(maxsize=len(LANGUAGES))
def translations(lang: str) -> gettext_module.NullTranslations:
    """The gettext translations of `lang` (English: the msgids as they are), read from its .po file once."""
    check_language(lang)
    if lang == DEFAULT_LANGUAGE:
        return gettext_module.NullTranslations()
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po
    from babel.support import Translations

    with open(catalog_path(lang), "rb") as handle:
        catalog = read_po(handle, locale=lang, domain=DOMAIN)
    buffer = BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(fp=buffer, domain=DOMAIN)


def tr(lang: str, message: str, **values: Any) -> str:
    """`message` in `lang`, with `%(name)s` placeholders filled from `values` (when any are given)."""
    text = translations(lang).gettext(message)
    return text % values if values else text


def ntr(lang: str, singular: str, plural: str, num: int, **values: Any) -> str:
    """The singular or plural form for `num` in `lang`; `%(num)s` and `values` are filled in."""
    return translations(lang).ngettext(singular, plural, num) % {"num": format_number(num, lang), **values}


def format_number(value: int | float, lang: str) -> str:
    """1000 -> '1,000' (en), '1 000' (fr), '1.000' (de)..."""
    try:
        return _format_number(value, lang)  # a view says the same few numbers thousands of times
    except TypeError:  # not hashable: nothing to remember it by
        from babel.numbers import format_decimal

        return format_decimal(value, locale=lang)


@lru_cache(maxsize=8192, typed=True)  # typed: 1 and 1.0 (and True) are different keys
def _format_number(value: int | float, lang: str) -> str:
    from babel.numbers import format_decimal

    return format_decimal(value, locale=lang)


_MONTH = re.compile(r"\d{4}-\d{2}")


def human_date(value: Any, lang: str = DEFAULT_LANGUAGE) -> str:
    """'2019-06' -> 'June 2019', '2019-06-30' -> '30 June 2019', a datetime -> '23 Nov 2026 15:30 UTC'; in French
    'juin 2019', '30 juin 2019', '23 nov. 2026 15:30 UTC' (Babel's long date and the month-year skeleton)."""
    try:
        return _human_date(value, lang)  # a render shows the same few hundred dates thousands of times
    except TypeError:  # not hashable: nothing to remember it by
        return _human_date.__wrapped__(value, lang)


@lru_cache(maxsize=8192)
def _human_date(value: Any, lang: str) -> str:
    from babel.dates import format_date, format_skeleton, format_time

    if value is None or value == "":
        return tr(lang, "not given")
    if isinstance(value, dt.datetime):
        value = value.astimezone(dt.UTC)
        if lang == DEFAULT_LANGUAGE:
            return f"{value:%d %b %Y %H:%M} UTC".lstrip("0")
        return f"{format_date(value, 'medium', locale=lang)} {format_time(value, 'HH:mm', locale=lang)} UTC"
    if isinstance(value, dt.date):
        return f"{value:%d %B %Y}".lstrip("0") if lang == DEFAULT_LANGUAGE else format_date(value, "long", locale=lang)
    text = str(value)
    for fmt, out in (("%Y-%m-%d", "%d %B %Y"), ("%Y-%m", "%B %Y"), ("%Y", "%Y")):
        try:
            parsed = dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
        if lang == DEFAULT_LANGUAGE or fmt == "%Y":
            return parsed.strftime(out).lstrip("0")
        if fmt == "%Y-%m":
            return format_skeleton("yMMMM", parsed.date(), locale=lang)
        return format_date(parsed.date(), "long", locale=lang)
    return text


def month_abbr(day: dt.date, lang: str) -> str:
    """'Nov' (en), 'nov.' (fr), 'Nov.' (de)...: the month's abbreviation alone."""
    from babel.dates import format_skeleton

    return f"{day:%b}" if lang == DEFAULT_LANGUAGE else format_skeleton("MMM", day, locale=lang)


def short_month(day: dt.date, lang: str, *, year: bool = False) -> str:
    """'23 Nov' / '23 Nov 2026' (en, as the digest subjects always were); Babel's day-month skeletons otherwise."""
    from babel.dates import format_skeleton

    if lang == DEFAULT_LANGUAGE:
        return f"{day.day} {day:%b %Y}" if year else f"{day.day} {day:%b}"
    return format_skeleton("yMMMd" if year else "MMMd", day, locale=lang)


def best_language(header: str | None, choices: tuple[str, ...] = LANGUAGES) -> str:
    """The language of `choices` an Accept-Language header prefers most (English when none fits)."""
    from babel import Locale

    if header:
        wanted = []
        for index, part in enumerate(header.split(",")):
            tag, _, params = part.strip().partition(";")
            quality = 1.0
            if params.strip().startswith("q="):
                try:
                    quality = float(params.strip()[2:])
                except ValueError:
                    quality = 0.0
            if tag:
                wanted.append((-quality, index, tag.strip()))
        for _, _, tag in sorted(wanted):
            try:
                code = Locale.parse(tag.replace("-", "_")).language
            except (ValueError, TypeError):
                continue
            if code in choices:
                return code
    return DEFAULT_LANGUAGE if DEFAULT_LANGUAGE in choices else choices[0]
