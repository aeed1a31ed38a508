"""The small fixture world of the site tests: the WHIM fixture studies, the shared "world changes" scenario and one
hostile record (script tags, javascript: links, raw HTML, an image) in every text field a page shows. The
database's clock-dependent columns are then pinned, so rendered pages are byte-for-byte stable."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy import update

from tests.conftest import Project
from tests.scenario import change_world
from trialfinder.models import ChangeEvent, Study, StudyVersion, SyncRun
from trialfinder.site.render import RenderResult, render_site
from trialfinder.site.view import Download

XSS_ID = "NCT09990666"
XSS_TITLE = "<script>alert(1)</script> WHIM & <b>bold</b>"
XSS_TEXT = ('Hello <script>alert("summary")</script> <img src=x onerror=alert(2)> [click me](javascript:alert(3)) '
            "![pixel](https://tracker.invalid/p.png) <a href=\"javascript:alert(4)\">raw link</a>")
XSS_CRITERIA = "Inclusion Criteria:\n\n* <script>alert(5)</script>\n* [bad](javascript:alert(6))\n* <iframe src=x>"
RUN_TIMES = {1: (dt.datetime(2026, 11, 19, 9, 0, tzinfo=dt.UTC), dt.datetime(2026, 11, 19, 9, 1, tzinfo=dt.UTC)),
             2: (dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC), dt.datetime(2026, 11, 20, 9, 1, tzinfo=dt.UTC))}


def hostile_study(template: dict[str, Any]) -> dict[str, Any]:
    """A copy of a fixture study whose title, summary, criteria, intervention, site and contact are hostile."""
    protocol = template["protocolSection"]
    protocol["identificationModule"]["nctId"] = XSS_ID
    protocol["identificationModule"]["briefTitle"] = XSS_TITLE
    protocol["identificationModule"]["officialTitle"] = XSS_TEXT
    protocol["descriptionModule"]["briefSummary"] = XSS_TEXT
    protocol["eligibilityModule"]["eligibilityCriteria"] = XSS_CRITERIA
    protocol["conditionsModule"]["conditions"] = ["WHIM Syndrome", "<svg onload=alert(7)>"]
    protocol["armsInterventionsModule"]["interventions"][0]["name"] = "<script>alert(8)</script>"
    protocol["contactsLocationsModule"]["locations"] = [{
        "facility": '"><script>alert(9)</script>', "city": "Paris", "country": "France", "status": "RECRUITING",
        "geoPoint": {"lat": 48.85, "lon": 2.35},
        "contacts": [{"name": "<b>Ann</b>", "email": 'javascript:alert(10)//@x.org"', "phone": "javascript:1"}],
    }]  # fmt: skip
    protocol["statusModule"]["overallStatus"] = "RECRUITING"
    return template


def build_site_world(project: Project) -> None:
    """Run the scenario (first import, changes, full sync) with the hostile study new in the second sync (so it is
    news on changes.html, not part of the first import), then pin the clock."""
    project.cli("sync")
    project.api.put(hostile_study(project.api.get("NCT00967785")))
    change_world(project)
    project.cli("sync", "--full")
    runs, events = SyncRun, ChangeEvent
    with project.engine().begin() as conn:
        for run_id, (started, finished) in RUN_TIMES.items():
            conn.execute(update(runs).where(runs.c.id == run_id).values(started_at=started, finished_at=finished))
            conn.execute(update(events).where(events.c.run_id == run_id).values(detected_at=started))
        first, last = RUN_TIMES[1][0], RUN_TIMES[2][0]
        conn.execute(update(Study).values(first_seen=first, last_seen=last, last_changed=last))
        conn.execute(update(StudyVersion).values(recorded_at=first))


def render_world(project: Project, out_dir: Path, downloads: tuple[Download, ...] = ()) -> RenderResult:
    """Render the project's database into out_dir."""
    return render_site(project.config, project.engine(), out_dir, downloads=downloads)
