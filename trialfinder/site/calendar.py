"""Dates for the calendar: `calendar/<NCT id>.ics` per study and `calendar/followed.ics` with the dates of every
listed study, written with the icalendar library (RFC 5545), one all-day event per known date.

The events are start, primary completion, completion, and results: "results posted" when they are, else "results
expected", about a year after primary completion (when US law asks most trials to post them). A date the record
gives only as a month is put on the 1st and says so. UIDs are stable (NCT id + kind), so importing a newer file
updates the events instead of doubling them; DTSTAMP is the record's last update, so a re-render is identical.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from icalendar import Calendar, Event

from trialfinder.wording import printable

FOLLOWED = "followed.ics"
_UID_DOMAIN = "trialfinder.invalid"  # RFC 2606: a name no one owns, as for the Atom ids
_KINDS = (
    ("start", "starts", "started"),
    ("primary_completion", "main data collection ends (expected)", "main data collected"),
    ("completion", "ends (expected)", "ended"),
)


def study_events(study: dict[str, Any]) -> list[Event]:
    """One all-day event per known date of a study's display dict (site/view.py), in date order."""
    values = study["date_values"]
    events = []
    for kind, expected, actual in _KINDS:
        value, kind_type = values[kind]
        if value and _day(value):
            events.append(_event(study, kind, expected if kind_type == "ESTIMATED" else actual, value))
    posted, _ = values["results_posted"]
    primary, _ = values["primary_completion"]
    if posted and _day(posted):
        events.append(_event(study, "results", "results posted", posted))
    elif primary and (day := _day(primary)) is not None:
        due = day + dt.timedelta(days=365)
        events.append(_event(study, "results", "results expected (about a year after main data)", due))
    return sorted(events, key=lambda e: e.decoded("dtstart"))


def write_calendars(folder: Path, studies: Iterable[dict[str, Any]], listed: Iterable[dict[str, Any]],
                    site_title: str, keep: Callable[[dict[str, Any]], bool] | None = None,
                    keep_followed: Callable[[], bool] | None = None) -> int:  # fmt: skip
    """Write calendar/<NCT id>.ics for `studies` and calendar/followed.ics for `listed`, except the files that
    `keep(study)` / `keep_followed()` (asked after every study's) put in place already; returns how many files it
    wrote. Each event is serialised once and put in both files (icalendar's line folding is most of the time)."""
    (folder / "calendar").mkdir(exist_ok=True)
    serialised: dict[str, list[bytes]] = {}
    for study in studies:
        if keep is not None and keep(study):
            continue
        serialised[study["nct_id"]] = blocks = [e.to_ical() for e in study_events(study)]
        (folder / "calendar" / f"{study['nct_id']}.ics").write_bytes(_calendar(f"{study['nct_id']}: study dates",
                                                                               blocks))
    if keep_followed is not None and keep_followed():
        return len(serialised)
    followed = [b for study in listed for b in serialised.get(study["nct_id"])
                or [e.to_ical() for e in study_events(study)]]  # fmt: skip
    (folder / "calendar" / FOLLOWED).write_bytes(_calendar(f"{site_title}: study dates", followed))
    return len(serialised) + 1


def _calendar(name: str, events: list[bytes]) -> bytes:
    """A VCALENDAR (icalendar) around already serialised VEVENTs."""
    cal = Calendar()
    cal.add("prodid", "-//trialfinder//study dates//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", printable(name))
    head, end, rest = cal.to_ical().rpartition(b"END:VCALENDAR")
    return head + b"".join(events) + end + rest


def _event(study: dict[str, Any], kind: str, words: str, value: str | dt.date) -> Event:
    day = value if isinstance(value, dt.date) else _day(value)
    assert day is not None  # callers pass parsed dates only
    month_only = isinstance(value, str) and len(value) == 7
    event = Event()
    event.add("uid", f"{study['nct_id']}-{kind}@{_UID_DOMAIN}")
    title = printable(study["title"])  # record text: no control characters reach the file (issue 14)
    title = title if len(title) <= 60 else title[:59].rstrip() + "…"
    event.add("summary", f"{study['nct_id']} {words}: {title}")
    event.add("dtstart", day)
    event.add("dtend", day + dt.timedelta(days=1))
    stamp = _day(study.get("updated") or "") or dt.date(2000, 1, 1)
    event.add("dtstamp", dt.datetime(stamp.year, stamp.month, stamp.day, tzinfo=dt.UTC))
    note = " ClinicalTrials.gov gives only the month; the 1st is used." if month_only else ""
    event.add("description", f"Official record: {study['url']}.{note}")
    event.add("url", study["url"])
    event.add("transp", "TRANSPARENT")
    return event


def _day(value: str) -> dt.date | None:
    for fmt in ("%Y-%m-%d", "%Y-%m"):
        try:
            return dt.datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    return None
