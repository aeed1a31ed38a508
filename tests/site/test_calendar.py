"""Dates for the calendar: every study's .ics and followed.ics parse back with icalendar and hold the record's
start, primary completion, completion and results dates."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from icalendar import Calendar, Event, vText
from sqlalchemy import select

from tests.conftest import Project
from tests.siteworld import build_site_world, render_world
from trialfinder.models import Study
from trialfinder.site.calendar import PRODID, StudyEvent, calendar_bytes, study_events, vevent
from trialfinder.wording import printable


@pytest.fixture
def site(project: Project, tmp_path: Path) -> Path:
    build_site_world(project)
    render_world(project, tmp_path / "site")
    return tmp_path / "site"


def _day(value: str) -> dt.date:
    return dt.date.fromisoformat(value if len(value) == 10 else value + "-01")


def _events(path: Path) -> dict[str, dt.date]:
    cal = Calendar.from_ical(path.read_bytes())
    assert cal["VERSION"] == "2.0" and cal["PRODID"]
    found = {}
    for event in cal.walk("VEVENT"):
        start, end = event.decoded("DTSTART"), event.decoded("DTEND")
        assert isinstance(start, dt.date) and not isinstance(start, dt.datetime)  # all-day
        assert end == start + dt.timedelta(days=1) and event.decoded("DTSTAMP").tzinfo is not None
        found[str(event["UID"])] = start
    return found


def test_each_study_calendar_holds_its_record_dates(project: Project, site: Path) -> None:
    studies = Study
    with project.engine().connect() as conn:
        rows = conn.execute(select(studies)).all()
    checked = 0
    for row in rows:
        events = _events(site / "calendar" / f"{row.nct_id}.ics")
        uid = f"{row.nct_id}-{{}}@trialfinder.invalid"
        for kind, value in (("start", row.start_date), ("primary_completion", row.primary_completion_date),
                            ("completion", row.completion_date)):
            if value:
                assert events[uid.format(kind)] == _day(value)
                checked += 1
            else:
                assert uid.format(kind) not in events
        if row.results_first_posted:
            assert events[uid.format("results")] == _day(row.results_first_posted)
        elif row.primary_completion_date:
            assert events[uid.format("results")] == _day(row.primary_completion_date) + dt.timedelta(days=365)
        page = (site / "study" / f"{row.nct_id}.html").read_text(encoding="utf-8")
        assert f'href="../calendar/{row.nct_id}.ics" download>' in page
    assert checked >= 10


def test_followed_calendar_has_every_listed_study(project: Project, site: Path) -> None:
    followed = _events(site / "calendar" / "followed.ics")
    studies = Study
    with project.engine().connect() as conn:
        listed = {r.nct_id for r in conn.execute(select(studies.c.nct_id).where(studies.c.removed_at.is_(None)))}
        removed = {r.nct_id for r in conn.execute(select(studies.c.nct_id).where(studies.c.removed_at.isnot(None)))}
    in_file = {uid.split("-")[0] for uid in followed}
    with_dates = {n for n in listed if _events(site / "calendar" / f"{n}.ics")}
    assert in_file == with_dates and with_dates and not in_file & removed
    for nct_id in with_dates:
        assert _events(site / "calendar" / f"{nct_id}.ics").items() <= followed.items()
    assert 'href="calendar/followed.ics"' in (site / "index.html").read_text(encoding="utf-8")


def _icalendar_event(event: StudyEvent) -> Event:
    """The event as the icalendar library builds it (what calendar.py used before it wrote the lines itself)."""
    built = Event()
    built.add("uid", event.uid)
    built.add("summary", event.summary)
    built.add("dtstart", event.day)
    built.add("dtend", event.day + dt.timedelta(days=1))
    built.add("dtstamp", dt.datetime(event.stamp.year, event.stamp.month, event.stamp.day, tzinfo=dt.UTC))
    built.add("description", event.description)
    built.add("url", event.url)
    built.add("transp", "TRANSPARENT")
    return built


def _icalendar_file(name: str, events: list[StudyEvent]) -> bytes:
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    # as TEXT (RFC 5545: an X- property's default type): icalendar would write it raw, a comma or line break unescaped
    cal.add("x-wr-calname", vText(printable(name)))
    for event in events:
        cal.add_component(_icalendar_event(event))
    return bytes(cal.to_ical())


def test_calendar_files_are_the_bytes_icalendar_writes(site: Path) -> None:
    """icalendar is the oracle: every file the render wrote is byte for byte what icalendar makes of its events."""
    checked = 0
    for path in sorted((site / "calendar").glob("NCT*.ics")):
        events = [StudyEvent(str(e["UID"]), str(e["SUMMARY"]), e.decoded("DTSTART"), e.decoded("DTSTAMP").date(),
                             str(e["DESCRIPTION"]), str(e["URL"]))
                  for e in Calendar.from_ical(path.read_bytes()).walk("VEVENT")]  # fmt: skip
        assert path.read_bytes() == _icalendar_file(f"{path.stem}: study dates", events)
        checked += len(events)
    assert checked >= 10


@pytest.mark.parametrize("title", [
    "Plain", "Commas, semicolons; and a back\\slash \\N and \\n", "Line\nbreaks\r\nand\rreturns\ttab",
    "x" * 58 + "\\;", "é" * 59, "日本語のタイトル" * 8, "a" * 45 + "\\" * 30, "ends with a caret ^" * 4, "😀" * 70,
])  # fmt: skip
def test_written_events_match_icalendar_on_hostile_text(title: str) -> None:
    """Escaping (, ; \\ line breaks) and folding at 75 octets (multi-byte characters, escapes at the fold) as
    icalendar does them, for titles, site names and descriptions of every shape."""
    study = {"nct_id": "NCT01234567", "title": title, "updated": "2024-02-03", "url": "https://example.org/x",
             "date_values": {"start": ("2023-06", "ACTUAL"), "primary_completion": ("2024-05-01", "ESTIMATED"),
                             "completion": (None, None), "results_posted": (None, "ACTUAL")}}  # fmt: skip
    events = study_events(study)
    assert [e.day for e in events] == [dt.date(2023, 6, 1), dt.date(2024, 5, 1), dt.date(2025, 5, 1)]
    long_words = StudyEvent("id-" + title, title * 3, dt.date(2020, 2, 29), dt.date(2021, 1, 1), title, "https://x")
    for event in [*events, long_words]:
        assert vevent(event) == _icalendar_event(event).to_ical()
    assert calendar_bytes(title, [vevent(e) for e in events]) == _icalendar_file(title, events)
