"""Change digests: the events of a window, grouped by importance, as plain text, Markdown or email-safe HTML.

Reads only the database. `digest_context` turns any list of events (any window, cursor or filter: see
`events.load_events`) into a plain dict of display-ready text, and `render_digest` renders it with
templates/digest.txt, digest.md or digest.html, so other callers (e-mail) reuse both.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from trialfinder import wording
from trialfinder.config import Config, SearchConfig
from trialfinder.history.events import EventRow, by_study, split_baseline
from trialfinder.i18n import N_, human_date, tr
from trialfinder.models import last_succeeded_run
from trialfinder.templating import make_environment

FORMATS = {"text": "digest.txt", "markdown": "digest.md", "html": "digest.html"}
SINCE_HELP = "7d (any number of days), YYYY-MM-DD, or last-run"
DISCLAIMER = N_(
    "trialfinder is not medical advice: talk to your care team about any trial. "
    "Data from ClinicalTrials.gov, which may change after this digest was made."
)


class NoRunYet(Exception):
    """`--since last-run` before any sync succeeded."""


def parse_since(value: str, conn: Connection, now: dt.datetime) -> dt.datetime:
    """The window start for `--since`: '7d' (days before now), 'YYYY-MM-DD' (midnight UTC) or 'last-run' (the
    start of the newest succeeded sync, so exactly its events). ValueError with the valid forms otherwise."""
    text = value.strip().lower()
    days = re.fullmatch(r"(\d{1,5})d", text)
    if days:
        return now - dt.timedelta(days=int(days.group(1)))
    if text == "last-run":
        run = last_succeeded_run(conn)
        if run is None:
            raise NoRunYet("no sync has succeeded yet: run `trialfinder sync` first")
        started: dt.datetime = run.started_at
        return started
    try:
        return dt.datetime.combine(dt.date.fromisoformat(text), dt.time(), tzinfo=dt.UTC)
    except ValueError:
        raise ValueError(f"--since {value!r} is not valid; use {SINCE_HELP}") from None


def check_since(value: str) -> None:
    """ValueError unless `value` is a form `--since` accepts: checked before any database is opened or created."""
    text = value.strip().lower()
    if text == "last-run" or re.fullmatch(r"(\d{1,5})d", text):
        return
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--since {value!r} is not valid; use {SINCE_HELP}") from None


def digest_context(
    config: Config,
    conn: Connection,
    events: Sequence[EventRow],
    *,
    start: dt.datetime,
    end: dt.datetime,
    searches: Sequence[SearchConfig] = (),
    filters: Sequence[str] = (),
    lang: str = "en",
) -> dict[str, Any]:
    """A plain dict (text, lists, dicts) in `lang` that every digest template renders: header, groups, studies,
    events (`render_digest` renders it in the same language, from its "lang").

    `searches` are the searches covered (default: all configured); `filters` describe any other filter in words.
    The new studies of a first import (baseline) are one line in `baseline`, not events in `groups`.
    """
    run = last_succeeded_run(conn)
    window_start, window_end = human_date(start, lang), human_date(end, lang)
    baselines, events = split_baseline(events)  # a first import is said once, not one "new study" per study
    order = {kind: index for index, kind in enumerate(wording.EVENT_KINDS)}
    groups = []
    for title, kinds in wording.EVENT_GROUPS:
        mine = [event for event in events if event.kind in kinds]
        if not mine:
            continue
        grouped = by_study(sorted(mine, key=lambda e: (order[e.kind], e.id)))
        studies = [_study_entry(nct_id, rows, lang) for nct_id, rows in grouped.items()]
        studies.sort(key=lambda s: (s["rank"], s["nct_id"]))
        groups.append({"title": wording.group_words(title, lang), "studies": studies})
    known = [e for e in events if e.kind in order]
    return {
        "lang": lang,
        "title": tr(lang, "%(site)s: what changed", site=config.site.title),
        "site_title": config.site.title,
        "site_url": config.site.public_url,
        "window": {"start": window_start, "end": window_end, "start_iso": _iso(start), "end_iso": _iso(end)},
        "searches": [{"name": s.name, "label": s.label} for s in (searches or config.searches)],
        "filters": list(filters),
        "data_timestamp": (run.data_timestamp if run is not None else None) or tr(lang, "unknown"),
        "last_sync": human_date(run.finished_at, lang) if run is not None else tr(lang, "never"),
        "total_events": len(known),
        "total_studies": len({e.nct_id for e in known}),
        "groups": groups,
        "baseline": [{"sentence": b.sentence_in(lang), "count": b.count, "detected": human_date(b.detected_at, lang)}
                     for b in baselines],
        "empty_message": tr(lang, "No changes between %(start)s and %(end)s.", start=window_start,
                                 end=window_end),
        "disclaimer": tr(lang, DISCLAIMER),
    }


def _study_entry(nct_id: str, rows: list[EventRow], lang: str) -> dict[str, Any]:
    order = {kind: index for index, kind in enumerate(wording.EVENT_KINDS)}
    first = rows[0]
    posted = max((r.last_update_posted for r in rows if r.last_update_posted), default=None)
    return {
        "nct_id": nct_id,
        "title": wording.short_title(first.brief_title, nct_id),
        "status": wording.listing_status(first.overall_status, first.removed, lang),
        "url": wording.study_url(nct_id),
        "history_url": wording.history_url(nct_id),
        "record_updated": human_date(posted, lang) if posted else None,
        "rank": min(order[r.kind] for r in rows),
        "events": [{"kind": r.kind, "sentence": r.sentence_in(lang), "detected": human_date(r.detected_at, lang)}
                   for r in rows],
    }


def render_digest(context: dict[str, Any], fmt: str) -> str:
    """The digest in `fmt` (a FORMATS key) from a `digest_context` dict, in its language."""
    return make_environment(context.get("lang", "en")).get_template(FORMATS[fmt]).render(**context)


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
