"""The index page's filter choices: (value, label) pairs from what the listed studies hold, labels in a language."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from trialfinder import wording
from trialfinder.config import Config
from trialfinder.i18n import format_number, tr

# Patient-facing recruitment groups (wording.RECRUITMENT_GROUPS) as short, URL-friendly filter values.
GROUP_SLUGS = {
    "Recruiting now": "recruiting",
    "Starting soon": "soon",
    "By invitation only": "invitation",
    "Running, not recruiting": "running",
    "Finished": "finished",
    "Stopped early / withdrawn": "stopped",
    "Status not known": "unknown",
}


def filter_options(config: Config, studies: Iterable[dict[str, Any]], lang: str = "en"
                   ) -> dict[str, list[tuple[str, str]]]:  # fmt: skip
    """The (value, label) choices of each list filter, from what the studies hold; the first choice is 'any'."""
    listed = list(studies)
    present_groups = {s["group_slug"] for s in listed}
    phases = sorted({p for s in listed for p in s["phases"]}, key=_phase_order)
    types = sorted({s["study_type"] for s in listed if s["study_type"]})
    countries = sorted({c for s in listed for c in s["countries"]}, key=str.casefold)
    groups = [(GROUP_SLUGS[g], tr(lang, g)) for g in wording.RECRUITMENT_GROUPS
              if GROUP_SLUGS[g] in present_groups]

    def _(message: str, **values: str) -> str:
        return tr(lang, message, **values)

    return {
        "topic": [("", _("All topics")), *((s.name, s.label) for s in config.searches)],
        "status": [("", _("Any status")), ("open", _("Recruiting, by invitation or starting soon")), *groups],
        "phase": [("", _("Any phase")), *((p, wording.phase_words(p, lang)) for p in phases)],
        "age": [("", _("Any age")), ("child", _("Children (under 18)")), ("adult", _("Adults (18 to 64)")),
                ("older", _("Older adults (65 and over)"))],
        "sex": [("", _("Any")), ("FEMALE", _("Open to women and girls")), ("MALE", _("Open to men and boys"))],
        "type": [("", _("Any type")), *((t, wording.study_type_words(t, lang)) for t in types)],
        "country": [("", _("Any country")), *((c, c) for c in countries)],
        "scope": [("", _("The most relevant")), ("all", _("All, also %(label)s", label=config.relevance.other_label))],
        "sort": [("updated", _("Relevance, then update")), ("start", _("Start date (newest first)")),
                 ("near", _("Nearest first"))],
        "within": [("", _("Any distance")), *((str(km), _("Within %(km)s km", km=format_number(km, lang)))
                                              for km in (100, 300, 1000))],
    }  # fmt: skip


def _phase_order(code: str) -> tuple[int, str]:
    known = list(wording.PHASE_WORDS)
    return (known.index(code) if code in known else len(known), code)
