"""Dates for the calendar: every study's .ics and followed.ics parse back with icalendar and hold the record's
start, primary completion, completion and results dates."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from icalendar import Calendar
from sqlalchemy import select

from tests.conftest import Project
from tests.siteworld import build_site_world, render_world
from trialfinder.models import Study, table_of


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
    studies = table_of(Study)
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
    studies = table_of(Study)
    with project.engine().connect() as conn:
        listed = {r.nct_id for r in conn.execute(select(studies.c.nct_id).where(studies.c.removed_at.is_(None)))}
        removed = {r.nct_id for r in conn.execute(select(studies.c.nct_id).where(studies.c.removed_at.isnot(None)))}
    in_file = {uid.split("-")[0] for uid in followed}
    with_dates = {n for n in listed if _events(site / "calendar" / f"{n}.ics")}
    assert in_file == with_dates and with_dates and not in_file & removed
    for nct_id in with_dates:
        assert _events(site / "calendar" / f"{nct_id}.ics").items() <= followed.items()
    assert 'href="calendar/followed.ics"' in (site / "index.html").read_text(encoding="utf-8")
