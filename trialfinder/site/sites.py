"""Which of a study's sites can take someone now, and how the others are named, for the cards and study pages.

A site is open only when its own status and the study's both say so: a study that is not recruiting has no open
site, whatever a stale site status still says. Only open sites count for "Where", the site count, the country
filter and "nearest"; the others stay on the study page, grouped in plain words. Contacts are made dialable here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from trialfinder.i18n import N_, ntr, tr

# Overall or site statuses under which someone can be taken now.
OPEN_STATUSES = frozenset({"RECRUITING", "ENROLLING_BY_INVITATION", "AVAILABLE"})
# The plain-words state of a site, in the order the study page lists them.
STATES = ("open", "soon", "paused", "closed", "withdrawn")
STATE_TITLES = {
    "open": N_("Open now"),
    "soon": N_("Not yet open"),
    "paused": N_("Paused"),
    "closed": N_("Closed to new patients"),
    "withdrawn": N_("Withdrawn"),
}
_STATE_OF_STATUS = {
    "RECRUITING": "open", "ENROLLING_BY_INVITATION": "open", "AVAILABLE": "open",
    "NOT_YET_RECRUITING": "soon",
    "SUSPENDED": "paused", "TEMPORARILY_NOT_AVAILABLE": "paused",
    "WITHDRAWN": "withdrawn",
}  # fmt: skip  # anything else (completed, terminated, active not recruiting...) is closed
_EMAIL = re.compile(r"[^@\s<>\"'()]+@[^@\s<>\"'()]+\.[A-Za-z]{2,}")
_PHONE = re.compile(r"\+?[0-9 ()./-]{5,}")
_COUNTRY_CODE = re.compile(r"\+?(\d{1,3})")


def _state(status: str | None) -> str:
    return _STATE_OF_STATUS.get(status or "", "closed")


def site_state(site_status: str | None, study_status: str | None) -> str:
    """One of STATES for a site: its own status (or the study's when it gives none), capped by the study's."""
    study = _state(study_status)
    own = _state(site_status) if site_status else study
    if study == "open":
        return own
    if study == "soon":
        return "soon" if own == "open" else own
    return "withdrawn" if own == "withdrawn" else study


def site_note(site_status: str | None, state: str, words: str, lang: str = "en") -> str:
    """What a site's line adds to its section's title: the record's own status words, or why they do not count."""
    if site_status and _state(site_status) != state:
        return tr(lang, "The site still says “%(status)s”, but the study is not recruiting", status=words.lower())
    return words


def open_sites(sites: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The sites (display dicts from `site_views`) that can take someone now."""
    return [site for site in sites if site["state"] == "open"]


def site_sections(sites: Sequence[dict[str, Any]], lang: str = "en") -> list[dict[str, Any]]:
    """The study page's site list: one section per state present (open first), each grouped by country."""
    sections = []
    for state in STATES:
        mine = [site for site in sites if site["state"] == state]
        if mine:
            count = ntr(lang, "%(num)s site", "%(num)s sites", len(mine))
            title = tr(lang, "%(state)s (%(count)s)", state=tr(lang, STATE_TITLES[state]), count=count)
            sections.append({"state": state, "title": title, "groups": by_country(mine, lang)})
    return sections


def by_country(sites: Sequence[dict[str, Any]], lang: str = "en") -> list[dict[str, Any]]:
    """Sites grouped by country (alphabetical; sites without one last), each group in the record's order."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for site in sites:
        groups.setdefault(site["country"], []).append(site)
    order = sorted(groups, key=lambda c: (c == "", c.casefold()))
    return [{"country": c or tr(lang, "Country not given"), "sites": groups[c]} for c in order]


def where_words(sites: Sequence[dict[str, Any]], lang: str = "en") -> str:
    """'2 open sites: France, Germany'; 'No site open now (3 closed, 1 withdrawn)'; 'No sites listed yet'."""
    if not sites:
        return tr(lang, "No sites listed yet")
    opened = open_sites(sites)
    if opened:
        countries = sorted({s["country"] for s in opened if s["country"]}, key=str.casefold)
        places = ", ".join(countries) if countries else tr(lang, "country not given")
        return ntr(lang, "%(num)s open site: %(places)s", "%(num)s open sites: %(places)s", len(opened),
                        places=places)  # fmt: skip
    counts = [(state, sum(1 for s in sites if s["state"] == state)) for state in STATES[1:]]
    parts = [f"{n} {tr(lang, STATE_TITLES[state]).lower()}" for state, n in counts if n]
    return tr(lang, "No site open now (%(counts)s)", counts=", ".join(parts))


def contact_view(contact: dict[str, Any], lang: str = "en") -> dict[str, Any]:
    """A contact with link targets only for what looks like a phone number or e-mail address (record text).
    An extension that is really a country code ('+33', or digits before a number without one) is dialled."""
    email = str(contact.get("email") or "").strip()
    phone = " ".join(str(contact.get("phone") or "").split())
    ext = str(contact.get("phoneExt") or "").strip()
    tel = "tel:" + re.sub(r"[^0-9+]", "", phone) if _PHONE.fullmatch(phone) else ""
    code = _COUNTRY_CODE.fullmatch(ext)
    shown = phone + (" " + tr(lang, "ext. %(ext)s", ext=ext) if ext else "")
    if tel and code and not phone.startswith("+") and (ext.startswith("+") or phone.startswith("0")):
        digits = re.sub(r"[^0-9]", "", phone)
        tel = f"tel:+{code.group(1)}{digits.removeprefix('0')}"
        shown = f"+{code.group(1)} {phone.removeprefix('0')}" if phone.startswith("0") else f"+{code.group(1)} {phone}"
    return {
        "name": contact.get("name") or "",
        "role": _words(contact.get("role")) if contact.get("role") not in (None, "CONTACT") else "",
        "email": email,
        "mailto": f"mailto:{email}" if _EMAIL.fullmatch(email) else "",
        "phone": shown,
        "tel": tel,
    }


def _words(code: Any) -> str:
    text = str(code or "").replace("_", " ").strip()
    return text.capitalize() if text else ""
