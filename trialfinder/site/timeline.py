"""Time drawn as SVG at render time: a study's timeline (its start, primary completion, completion and results dates,
actual or estimated, and the changes we recorded: status changes, sites opened and closed) and the changes page's
chart of the studies open at the end of each month, from our stored change events.

Everything is returned as plain dicts (positions already computed, whole numbers) for _timeline.html and _chart.html,
with the same facts as rows for their text equivalents. Nothing reads the wall clock: "now" is our last sync.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Any

from trialfinder.history.events import EventRow, by_study
from trialfinder.i18n import N_, human_date, month_abbr, tr
from trialfinder.site.sites import OPEN_STATUSES

WIDTH, HEIGHT, AXIS_Y, PAD = 640, 150, 84, 24  # the timeline's viewBox and where its axis runs
CHART_WIDTH, CHART_HEIGHT, CHART_TOP, CHART_BASE = 640, 200, 20, 160
CHART_MONTHS = 36  # the chart shows at most the last three years
MILESTONES = (("start", N_("Start"), N_("Start")),
              ("primary_completion", N_("Main data collected"), N_("Main data collection ends")),
              ("completion", N_("Study ended"), N_("Study ends")),
              ("results_posted", N_("Results posted"), N_("Results posted")))  # fmt: skip
TIMELINE_KINDS = ("status_changed", "site_added", "site_removed", "site_status_changed")
_PARTIAL = re.compile(r"(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?")


def parse_date(value: str | None) -> dt.date | None:
    """A record's full or partial date as a day to draw it at: '2026-03' -> 15 March, '2026' -> 1 July; None when it
    is not a valid date."""
    match = _PARTIAL.fullmatch((value or "").strip())
    if not match:
        return None
    year, month, day = match.group(1), match.group(2), match.group(3)
    try:
        if day:
            return dt.date(int(year), int(month), int(day))
        return dt.date(int(year), int(month), 15) if month else dt.date(int(year), 7, 1)
    except ValueError:
        return None


def has_timeline(date_values: Mapping[str, tuple[str | None, str | None]], events: Sequence[EventRow]) -> bool:
    """Whether `study_timeline` draws one: some milestone has a valid date, or some event is one it shows."""
    return (any(parse_date(date_values.get(key, (None, None))[0]) is not None for key, _, _ in MILESTONES)
            or any(event.kind in TIMELINE_KINDS and not event.baseline for event in events))  # fmt: skip


def study_timeline(date_values: Mapping[str, tuple[str | None, str | None]], events: Sequence[EventRow],
                   month: str, lang: str = "en") -> dict[str, Any] | None:  # fmt: skip
    """The study's timeline: its dated milestones (estimated ones apart) and its status and site changes on one
    axis, with the rows of its table, oldest first; None when there is no date at all. `month` ('YYYY-MM', our last
    update's) is where the line turns dashed: its first day, so an estimated date is said to have passed only when
    it surely has."""
    now = parse_date(f"{month}-01") if month else None
    rows: list[dict[str, Any]] = []
    for key, done, planned in MILESTONES:
        value, kind = date_values.get(key, (None, None))
        day = parse_date(value)
        if day is None:
            continue
        estimated = kind == "ESTIMATED"
        if estimated:
            how = tr(lang, "estimated, has passed") if now and day < now else tr(lang, "estimated")
        else:
            how = tr(lang, "actual")
        rows.append({"day": day, "milestone": True, "estimated": estimated,
                     "what": tr(lang, planned if estimated else done),
                     "when": human_date(value, lang), "how": how})  # fmt: skip
    for event in events:
        if event.kind in TIMELINE_KINDS and not event.baseline:
            day = event.detected_at.date()
            rows.append({"day": day, "milestone": False, "estimated": False, "what": event.sentence_in(lang),
                         "when": human_date(day, lang), "how": tr(lang, "recorded by us"),
                         "kind": event.kind})  # fmt: skip
    if not rows:
        return None
    rows.sort(key=lambda row: (row["day"], not row["milestone"]))
    days = [row["day"] for row in rows] + ([now] if now else [])
    first, last = min(days), max(days)
    first, last = dt.date(first.year, 1, 1), dt.date(last.year + 1, 1, 1)
    span = (last - first).days

    def x_of(day: dt.date) -> int:
        return PAD + round((day - first).days * (WIDTH - 2 * PAD) / span)

    level = 0
    for row in rows:
        row["x"] = x_of(row["day"])
        if row["milestone"]:  # labels on two heights, so that neighbours do not overwrite each other
            row["label_y"] = 30 if level % 2 == 0 else 52
            row["anchor"] = "start" if row["x"] < 80 else "end" if row["x"] > WIDTH - 80 else "middle"
            level += 1
        row["day"] = row["day"].isoformat()
    years = list(range(first.year, last.year + 1))
    step = max(1, -(-len(years) // 8))
    ticks = [{"x": x_of(dt.date(year, 1, 1)), "label": str(year)} for year in years[::step]]
    now_x = x_of(now) if now else None
    return {"width": WIDTH, "height": HEIGHT, "axis_y": AXIS_Y, "left": PAD, "right": WIDTH - PAD, "now_x": now_x,
            "now": human_date(month, lang) if month else "", "ticks": ticks, "rows": rows,
            "estimated": any(row["estimated"] for row in rows)}  # fmt: skip


def open_per_month(events: Sequence[EventRow], today: dt.datetime | None,
                   lang: str = "en") -> dict[str, Any] | None:  # fmt: skip
    """How many studies were open (recruiting, by invitation or available) at the end of each month, from our first
    recorded event to our last sync, rebuilt backwards from each study's status now through its status changes,
    removals and reappearances; None without any event."""
    if not events:
        return None
    histories = [_history(rows) for rows in by_study(events).values()]
    start = min(_naive(event.detected_at) for event in events)
    end = max(_naive(today) if today else start, max(_naive(event.detected_at) for event in events))
    months = []
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        months.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    months = months[-CHART_MONTHS:]
    bars: list[dict[str, Any]] = []
    for year, month in months:
        close = dt.datetime(year + (month == 12), month % 12 + 1, 1)
        at = min(close, end + dt.timedelta(microseconds=1))
        count = sum(1 for history in histories if _open_at(history, at))
        day = dt.date(year, month, 1)
        bars.append({"month": f"{year:04d}-{month:02d}", "label": human_date(f"{year:04d}-{month:02d}", lang),
                     "short": month_abbr(day, lang) + (f" {year}" if month == 1 or not bars else ""),
                     "open": count})  # fmt: skip
    top = max(1, max(bar["open"] for bar in bars))
    slot = min(60.0, (CHART_WIDTH - 40) / len(bars))
    for i, bar in enumerate(bars):
        bar["height"] = round(bar["open"] * (CHART_BASE - CHART_TOP) / top)
        bar["y"] = CHART_BASE - bar["height"]
        bar["x"] = 30 + round(i * slot + slot * 0.15)
        bar["w"] = max(2, round(slot * 0.7))
        bar["mid"] = bar["x"] + bar["w"] // 2
    label_every = max(1, -(-len(bars) // 12))
    for i, bar in enumerate(bars):
        bar["show_label"] = i % label_every == 0
    return {"width": CHART_WIDTH, "height": CHART_HEIGHT, "base": CHART_BASE, "top": top, "bars": bars,
            "title": tr(lang, "Studies open at the end of each month"), "left": 30, "right": CHART_WIDTH - 10}


def _history(rows: Sequence[EventRow]) -> tuple[tuple[str | None, bool], list[tuple[dt.datetime, tuple[str | None,
                                                                                                         bool]]]]:
    """A study's (status, listed) before our first event, and after each of its changes, oldest first."""
    rows = sorted(rows, key=lambda e: (e.detected_at, e.id), reverse=True)  # newest first
    state: tuple[str | None, bool] = (rows[0].overall_status, not rows[0].removed)
    changes = []
    for event in rows:
        changes.append((_naive(event.detected_at), state))
        status, listed = state
        if event.kind == "status_changed":
            state = (event.old, listed)
        elif event.kind == "removed":
            state = (status, True)
        elif event.kind in ("reappeared", "new_study"):  # before it: not listed
            state = (status, False)
    changes.reverse()
    return state, changes


def _open_at(history: tuple[tuple[str | None, bool], list[tuple[dt.datetime, tuple[str | None, bool]]]],
             at: dt.datetime) -> bool:  # fmt: skip
    state, changes = history
    for when, after in changes:
        if when >= at:
            break
        state = after
    return state[1] and state[0] in OPEN_STATUSES


def _naive(when: dt.datetime) -> dt.datetime:
    """A time as naive UTC (SQLite gives naive times, PostgreSQL aware ones)."""
    return when.astimezone(dt.UTC).replace(tzinfo=None) if when.tzinfo else when
