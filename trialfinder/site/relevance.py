"""How close each study is to WHIM syndrome: a tier from its own record and the [relevance] terms, with the reason
in words ("WHIM syndrome study: WHIM in its conditions"). Pure: the same record and config give the same tier."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from trialfinder.config_sections import RelevanceConfig


@dataclass(frozen=True)
class Relevance:
    """A study's tier (1 = WHIM, 2 = related, 3 = other), its label and the reason in words."""

    tier: int
    label: str
    reason: str


@lru_cache(maxsize=64)
def _pattern(terms: tuple[str, ...]) -> re.Pattern[str] | None:
    """One case-blind regex finding any of `terms` as whole words (letters or digits never touch it)."""
    if not terms:
        return None
    alternatives = "|".join(re.escape(t.strip()) for t in sorted(terms, key=len, reverse=True))
    return re.compile(rf"(?<![0-9A-Za-z])(?:{alternatives})(?![0-9A-Za-z])", re.IGNORECASE)


def _found(terms: tuple[str, ...], texts: Iterable[str | None]) -> str | None:
    """The first of `terms` found in `texts`, as written there; None when none is."""
    pattern = _pattern(terms)
    if pattern is None:
        return None
    for text in texts:
        match = pattern.search(text or "")
        if match:
            return match.group(0)
    return None


def study_relevance(row: Any, interventions: Sequence[dict[str, Any]], topic_labels: Sequence[str],
                    config: RelevanceConfig) -> Relevance:  # fmt: skip
    """The tier of one study from its `studies` row and display interventions (name, other_names)."""
    named = [*(row.conditions or []), *(row.keywords or [])]
    titles = [row.brief_title, row.official_title, row.acronym]
    where_words = (("in its conditions", named), ("in its title", titles),
                   ("in who can join", [row.eligibility_criteria]))  # fmt: skip
    for where, texts in where_words:
        term = _found(config.whim_terms, texts)
        if term:
            return Relevance(1, config.whim_label, f"{config.whim_label}: {term} {where}")
    drugs = [name for item in interventions for name in (item["name"], *item["other_names"])]
    drug = _found(config.whim_drugs, [*drugs, *titles])
    if drug:
        return Relevance(1, config.whim_label, f"{config.whim_label}: tests {drug}")
    term = _found(config.related_terms, [*named, *titles])
    if term:
        return Relevance(2, config.related_label, f"{config.related_label}: {term}")
    found = f"the search {', '.join(topic_labels)}" if topic_labels else "our searches"
    return Relevance(3, config.other_label, f"{config.other_label}: found by {found}")

