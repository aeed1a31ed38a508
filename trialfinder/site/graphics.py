"""The pictures of the site: each study's map (worldmap.study_map) and timeline (timeline.study_timeline), the index
page's world map of the open studies and the changes page's chart of open studies per month.

A study's map and timeline are drawn only for a study page that renders (`StudyPictures.draw`; a kept page needs
neither: drawing them for every study was a tenth of an unchanged re-render's view). What they are drawn from is in
its page's input hash (reuse.py): its view dict (the sites, the dates, every event's date and sentence) and
`StudyPictures.inputs` (its events' ids and kinds, and the month of our last update when it has a timeline), so a new
event, a moved site or a new month renders the page again."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from trialfinder.history.events import EventRow, by_study
from trialfinder.models import last_succeeded_run
from trialfinder.site.timeline import has_timeline, open_per_month, study_timeline
from trialfinder.site.worldmap import index_map_inputs, study_map


@dataclass(frozen=True)
class StudyPictures:
    """Draws a study's map and timeline from its view dict and its events (`events`: NCT id -> newest first), with
    the timeline dashed from `month` ('YYYY-MM', our last update's)."""

    month: str
    events: dict[str, list[EventRow]]
    lang: str

    def inputs(self, study: dict[str, Any]) -> list[Any]:
        """What the pictures are drawn from besides the study's view dict (for its page's input hash)."""
        mine = self.events.get(study["nct_id"], [])
        kinds = [[event.id, event.kind, event.baseline, event.detected_at.isoformat()] for event in mine]
        return [self.month if has_timeline(study["date_values"], mine) else "", kinds]

    def draw(self, study: dict[str, Any]) -> dict[str, Any]:
        """`map` (None without any placed site) and `timeline` (None without any date) of one study."""
        mine = self.events.get(study["nct_id"], [])
        return {"map": study_map(study["sites"], self.lang),
                "timeline": study_timeline(study["date_values"], mine, self.month, self.lang)}  # fmt: skip


Pictures = tuple[dict[str, Any], dict[str, Any] | None, StudyPictures]  # the index map, the chart, the studies' own


def add_graphics(conn: Connection, studies: Sequence[dict[str, Any]], listed: Sequence[dict[str, Any]],
                 shown_tiers: int, events: Sequence[EventRow],
                 lang: str = "en") -> Pictures:  # fmt: skip
    """Give each site of every study dict an `id` (the anchor its map marker links to); return what the index map
    shows (of the studies the list shows first: `worldmap.index_map_inputs`, drawn when the index renders), the
    open-studies chart and what draws each study's map and timeline."""
    run = last_succeeded_run(conn)
    # the month of our last update, not its day: a study page then changes with the month, not with every sync
    # (an unchanged study's page is kept from one render to the next: site/reuse.py)
    month = f"{run.finished_at:%Y-%m}" if run is not None and run.finished_at else ""
    for study in studies:
        for number, site in enumerate(study["sites"], 1):
            site["id"] = f"site-{number}"
    first = [study for study in listed if study["tier"] <= shown_tiers]
    chart = open_per_month(events, run.finished_at if run is not None else None, lang)
    return index_map_inputs(first, lang=lang), chart, StudyPictures(month, by_study(events), lang)
