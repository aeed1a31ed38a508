"""Removals proven by the API, never inferred from a study's absence in the pages of a run.

A study a full run did not see may have slid across a page boundary while the data set moved between page requests.
So each one is asked about: the run's searches restricted to its id (`filter.ids`, batched) tell whether it still
matches (then it is kept, "missed by paging"); for the others `GET /studies/{id}` tells whether it is gone (404),
merged into another id (301 to the alias) or there but no longer matching. An error during a check leaves the
study as it was; the run keeps its id for the next run to check again. `removal_gate` stops a run that would
remove more than a configured share of a search's stored studies.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, func, select

from trialfinder.config import SearchConfig
from trialfinder.ingest.client import ApiClient, ApiError
from trialfinder.models import Study, StudySearch

log = logging.getLogger(__name__)

CHECK_BATCH = 100  # ids per restricted search request (filter.ids joined with "|")
# Past this many studies that no search matches any more (e.g. a search deleted from the config), they are all
# "no longer found by the searches" (which the restricted searches proved) without a lookup of each.
MAX_STUDY_LOOKUPS = 50
GONE = "no longer on ClinicalTrials.gov"
NOT_MATCHING = "no longer found by the searches"


class RemovalGateClosed(Exception):
    """A run would remove more than sync.max_removed_share of a search's studies; the message says which."""


@dataclass
class Verdicts:
    """What the API said about each study checked."""

    removed: dict[str, str] = field(default_factory=dict)  # nct_id -> reason
    found: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (search name, record): still matching
    unchecked: list[str] = field(default_factory=list)  # an error stopped the check: left as they were


def check_missing(api: ApiClient, searches: Sequence[SearchConfig], ids: Sequence[str]) -> Verdicts:
    """Ask the API about each of `ids` (studies a run did not see); see the module docstring."""
    verdicts = Verdicts()
    if not ids:
        return verdicts
    matched: set[str] = set()
    failed: set[str] = set()
    for search in searches:
        for chunk in _chunks(list(ids), CHECK_BATCH):
            params = restricted_params(search, chunk)
            if params is None:
                continue
            try:
                records = [record for page in api.iter_pages(params) for record in page.records()]
            except ApiError as exc:
                log.warning("search %s: could not check %d studies it may still find: %s", search.name, len(chunk), exc)
                failed.update(chunk)
                continue
            wanted = set(chunk)
            for record in records:
                nct_id = _id_of(record)
                if nct_id in wanted and nct_id not in matched:
                    matched.add(nct_id)
                    verdicts.found.append((search.name, record))
    rest = [nct_id for nct_id in ids if nct_id not in matched and nct_id not in failed]
    verdicts.unchecked = [nct_id for nct_id in ids if nct_id in failed and nct_id not in matched]
    if len(rest) > MAX_STUDY_LOOKUPS:
        log.warning("%d studies are no longer found by the searches; not looking each one up", len(rest))
        verdicts.removed = dict.fromkeys(rest, NOT_MATCHING)
        return verdicts
    for nct_id in rest:
        try:
            found = api.get_study(nct_id)
        except ApiError as exc:
            log.warning("could not check %s: %s; it stays as it was and is checked again next run", nct_id, exc)
            verdicts.unchecked.append(nct_id)
            continue
        if found is None:
            verdicts.removed[nct_id] = GONE
            continue
        current = _id_of(found)
        verdicts.removed[nct_id] = f"now listed as {current}" if current and current != nct_id else NOT_MATCHING
    return verdicts


def restricted_params(search: SearchConfig, ids: Sequence[str]) -> dict[str, str] | None:
    """The search's parameters limited to `ids` (within its own filter.ids, if it has one); None when none is left."""
    params = dict(search.params)
    own = params.get("filter.ids")
    if own:
        allowed = {part.strip().upper() for part in re.split(r"[,|]", own)}
        ids = [nct_id for nct_id in ids if nct_id in allowed]
    if not ids:
        return None
    params["filter.ids"] = "|".join(ids)
    return params


def removal_gate(conn: Connection, searches: Sequence[SearchConfig], removed: Sequence[str], share: float) -> None:
    """RemovalGateClosed when removing `removed` would take more than `share` (and more than one) of the stored,
    not yet removed studies of any configured search."""
    if not removed or share >= 1.0:
        return
    links, studies = StudySearch, Study
    names = [search.name for search in searches]
    totals: dict[str, int] = dict(
        conn.execute(  # type: ignore[arg-type]
            select(links.c.search_name, func.count())
            .join(studies, studies.c.nct_id == links.c.nct_id)
            .where(studies.c.removed_at.is_(None), links.c.search_name.in_(names))
            .group_by(links.c.search_name)
        ).all()
    )
    losing: dict[str, int] = {}
    for chunk in _chunks(list(removed), 500):
        rows = conn.execute(
            select(links.c.search_name, func.count())
            .where(links.c.nct_id.in_(chunk), links.c.search_name.in_(names))
            .group_by(links.c.search_name)
        )
        for name, count in rows:
            losing[name] = losing.get(name, 0) + count
    for name, count in sorted(losing.items()):
        total = totals.get(name, 0)
        if count > 1 and count > share * total:
            raise RemovalGateClosed(
                f"search {name} would lose {count} of its {total} studies, more than sync.max_removed_share "
                f"({share:g}); if the API really lost them, raise sync.max_removed_share for one run"
            )


def _id_of(record: Any) -> str | None:
    if not isinstance(record, dict):
        return None
    nct_id = ((record.get("protocolSection") or {}).get("identificationModule") or {}).get("nctId")
    return nct_id if isinstance(nct_id, str) else None


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
