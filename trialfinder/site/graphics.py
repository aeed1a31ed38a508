"""The pictures of the site, added to the view model once per render: each study's map (worldmap.study_map) and
timeline (timeline.study_timeline), the index page's world map of the open studies and the changes page's chart of
open studies per month. A study's map and timeline are keys of its view dict, so they are part of its pages' input
hash (reuse.py): a new event or a moved site renders the page again."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from trialfinder.history.events import EventRow, by_study
from trialfinder.models import last_succeeded_run
from trialfinder.site.timeline import open_per_month, study_timeline
from trialfinder.site.worldmap import index_map, study_map

Pictures = tuple[dict[str, Any], dict[str, Any] | None]  # the index map and the changes page's chart


def add_graphics(conn: Connection, studies: Sequence[dict[str, Any]], listed: Sequence[dict[str, Any]],
                 shown_tiers: int, events: Sequence[EventRow],
                 lang: str = "en") -> Pictures:  # fmt: skip
    """Give every study dict its `map` (None without any placed site) and `timeline` (None without any date), and
    each of its sites an `id` (the anchor its map marker links to); return the index map (of the studies the list
    shows first) and the open-studies chart."""
    run = last_succeeded_run(conn)
    # the month of our last update, not its day: a study page then changes with the month, not with every sync
    # (an unchanged study's page is kept from one render to the next: site/reuse.py)
    month = f"{run.finished_at:%Y-%m}" if run is not None and run.finished_at else ""
    mine = by_study(events)
    for study in studies:
        for number, site in enumerate(study["sites"], 1):
            site["id"] = f"site-{number}"
        study["map"] = study_map(study["sites"], lang)
        study["timeline"] = study_timeline(study["date_values"], mine.get(study["nct_id"], []), month, lang)
    first = [study for study in listed if study["tier"] <= shown_tiers]
    chart = open_per_month(events, run.finished_at if run is not None else None, lang)
    return index_map(first, lang=lang), chart
