"""Atom 1.0 feeds of change events: `feed.xml` (every search) and `feeds/<search>.xml`, read from the database only.

Entry ids are permanent: a `tag:` URI built from what the event is (study, version content hash, kind, field, and a
repeat number for the rare same event seen twice, e.g. removed, listed again, removed), never from when a run or a
render happened, so re-rendering, or rebuilding the database from the same history, gives the same ids. A feed's
`updated` is its newest entry's, so an unchanged feed renders byte for byte the same.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine

from trialfinder import wording
from trialfinder.config import Config, SearchConfig
from trialfinder.db import connection_of
from trialfinder.history.events import Baseline, EventFilter, EventRow, load_events, split_baseline
from trialfinder.i18n import human_date
from trialfinder.models import last_succeeded_run
from trialfinder.outfile import write_text_atomic
from trialfinder.templating import make_environment

# A name no one owns (RFC 2606 .invalid), so ids never depend on where the site is published. Never change it:
# feed readers use entry ids to know what they have already shown.
FEED_ID_PREFIX = "tag:trialfinder.invalid,2026:"
MAX_FEED_ENTRIES = 500  # newest events per feed
EPOCH = "1970-01-01T00:00:00Z"
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def entry_id(event: EventRow) -> str:
    """The permanent Atom id of an event: tag:…:NCT id:version:kind:field[:repeat]."""
    version = (event.version_hash or "")[:16] or (event.last_update_posted or "none")
    field = hashlib.sha256(event.field_path.encode("utf-8")).hexdigest()[:12] if event.field_path else "-"
    repeat = f":{event.ordinal}" if event.ordinal > 1 else ""
    return f"{FEED_ID_PREFIX}{event.nct_id}:{version}:{event.kind}:{field}{repeat}"


def feed_context(config: Config, conn: Connection, search: SearchConfig | None = None) -> dict[str, Any]:
    """The plain dict templates/feed.xml renders: the feed of one search, or of all when `search` is None."""
    flt = EventFilter(searches=(search.name,) if search else (), limit=MAX_FEED_ENTRIES, newest_first=True)
    public = config.site.public_url
    base = public if public.endswith("/") or not public else public + "/"
    baselines, events = split_baseline(load_events(conn, flt))  # a first import is one entry, not one per study
    entries = [_entry(event) for event in events] + [_baseline_entry(b, base) for b in baselines]
    entries.sort(key=lambda entry: entry["updated"], reverse=True)
    if entries:
        updated = max(entry["updated"] for entry in entries)
    else:
        run = last_succeeded_run(conn)
        updated = _iso(run.finished_at) if run is not None and run.finished_at else EPOCH
    path = f"feeds/{search.name}.xml" if search else "feed.xml"
    what = search.label if search else "all searches"
    return {
        "feed": {
            "id": f"{FEED_ID_PREFIX}feed:{search.name if search else 'all'}",
            "title": _clean(f"{config.site.title}: changes ({what})"),
            "subtitle": _clean(f"What changed in the ClinicalTrials.gov records of {what}, field by field."),
            "updated": updated,
            "author": _clean(config.site.title),
            "self_url": base + path if base else "",
            "site_url": base,
            "entries": entries,
        }
    }


def _entry(event: EventRow) -> dict[str, Any]:
    title = wording.short_title(event.brief_title, event.nct_id)
    sentence = event.sentence
    return {
        "id": entry_id(event),
        "title": _clean(f"{sentence} — {title} ({event.nct_id})"),
        "updated": _iso(event.detected_at),
        "url": wording.study_url(event.nct_id),
        "history_url": wording.history_url(event.nct_id),
        "kind": event.kind,
        "group": event.group,
        "sentence": _clean(sentence),
        "nct_id": event.nct_id,
        "study_title": _clean(title),
        "record_updated": human_date(event.last_update_posted) if event.last_update_posted else None,
    }


def baseline_id(baseline: Baseline) -> str:
    """The permanent Atom id of a first import: from the studies and versions it brought, never from run times."""
    content = "\n".join(sorted(f"{e.nct_id}:{e.version_hash or ''}" for e in baseline.events))
    return f"{FEED_ID_PREFIX}baseline:{hashlib.sha256(content.encode('utf-8')).hexdigest()[:16]}"


def _baseline_entry(baseline: Baseline, base: str) -> dict[str, Any]:
    return {
        "id": baseline_id(baseline),
        "title": _clean(baseline.sentence),
        "updated": _iso(baseline.detected_at),
        "url": base + "index.html" if base else "https://clinicaltrials.gov/",
        "history_url": "",
        "kind": "baseline",
        "group": wording.EVENT_GROUPS[0][0],
        "sentence": _clean(baseline.sentence),
        "nct_id": "",
        "study_title": "",
        "record_updated": None,
    }


def render_feed(context: dict[str, Any]) -> str:
    """Atom XML from a `feed_context` dict."""
    return make_environment().get_template("feed.xml").render(**context)


def write_feeds(config: Config, source: Engine | Connection, out_dir: Path) -> list[Path]:
    """Write out_dir/feed.xml and out_dir/feeds/<search>.xml for every configured search; returns the paths.

    Every feed is rendered before any is written, and each file is replaced whole (never left half-written).
    """
    with connection_of(source) as conn:
        rendered = [(out_dir / "feed.xml", render_feed(feed_context(config, conn)))]
        rendered += [
            (out_dir / "feeds" / f"{search.name}.xml", render_feed(feed_context(config, conn, search)))
            for search in config.searches
        ]
    return [write_text_atomic(path, text) for path, text in rendered]



def _clean(text: str) -> str:
    """Text without the control characters XML 1.0 cannot carry."""
    return _XML_INVALID.sub("", text)


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
