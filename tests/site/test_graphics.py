"""Issue 18's pictures: the country shapes and their paths, the index and study maps, the study timelines and the
open-studies chart (site/worldmap.py, site/timeline.py), a study whose sites have no place (no map, the list only),
the index map's weight at its worst, and a new event rendering its study's page again (its input hash)."""

from __future__ import annotations

import datetime as dt
import gzip
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, update

from tests.conftest import Project
from tests.site.test_reuse import per_study, rendered  # noqa: F401 - the fixture
from tests.siteworld import RUN_TIMES, build_site_world, render_world
from trialfinder.history.events import EventRow
from trialfinder.models import ChangeEvent, StudyLocation
from trialfinder.site import places
from trialfinder.site.timeline import open_per_month, parse_date, study_timeline
from trialfinder.site.worldmap import Frame, countries, index_map, land_of, path_of, study_map
from trialfinder.templating import make_environment

INDEX_MAP_MAX_GZIP = 60_000  # bytes: what the index map may add to the page (issue 18)


@pytest.fixture
def site(project: Project, tmp_path: Path) -> Path:
    build_site_world(project)
    out = tmp_path / "out" / "site"
    render_world(project, out)
    return out


def test_country_shapes_come_from_natural_earth_without_antarctica() -> None:
    found = {country.code: country for country in countries()}
    assert {"FR", "US", "DE", "AU", "JP", "BR"} <= set(found) and "AQ" not in found
    assert found["FR"].name == "France" and len(found) > 200
    west, _, east, _ = found["FR"].bounds  # with French Guiana, Réunion...
    assert west < -50 and east > 50
    d = path_of(found["DE"].geometry.simplify(0.25), Frame(-180, 84, 960 / 360))
    assert re.fullmatch(r"(M-?\d+ -?\d+l[-\d ]+z)+", d) and len(d) < 2000  # whole numbers, relative steps


def test_each_simplification_stays_within_its_tolerance_and_the_finest_of_the_file() -> None:
    """The coarser levels are made from FINEST's shape (fast): as close to the file's as simplifying the file's shape
    to that level directly, give or take FINEST (simplifying with the topology kept may stray a little beyond the
    tolerance, to keep a ring a ring)."""
    import shapely

    from trialfinder.site.worldmap import FINEST, MIN_SPAN, _simplified, _tolerance

    assert _tolerance(MIN_SPAN) == FINEST and _tolerance(360.0) == 1.0
    for country in [c for c in countries() if c.code in ("FR", "NO", "ID", "CL", "JP")]:
        finest = _simplified(country.code, FINEST)
        assert shapely.hausdorff_distance(finest, country.geometry) <= FINEST * 1.5
        assert shapely.get_num_coordinates(finest) < shapely.get_num_coordinates(country.geometry) / 3
        for level in (0.25, 0.5, 1.0):
            coarse = _simplified(country.code, level)
            direct = country.geometry.simplify(level, preserve_topology=True)
            assert shapely.hausdorff_distance(coarse, country.geometry) <= max(
                shapely.hausdorff_distance(direct, country.geometry), level) + FINEST
            assert shapely.get_num_coordinates(coarse) < shapely.get_num_coordinates(finest)


def site_of(geo: str, state: str = "open", place: str = "Paris, France", number: int = 1) -> dict[str, Any]:
    return {"geo": geo, "state": state, "facility": f"Hospital {number}", "place": place, "id": f"site-{number}"}


def test_index_map_highlights_countries_with_open_sites_and_links_to_the_filter() -> None:
    studies = [
        {"nct_id": "N1", "countries": ["France", "Korea, Republic of"],
         "sites": [site_of("48.85,2.35"), site_of("37.57,126.98", place="Seoul, Korea", number=2),
                   site_of("40.7,-74.0", state="closed", place="New York, United States", number=3)]},
        {"nct_id": "N2", "countries": ["France"], "sites": [site_of("45.75,4.85,c")]},
    ]  # fmt: skip
    world = index_map(studies)
    shown = {c["value"]: c for c in world["countries"]}
    assert list(shown) == ["France", "Korea, Republic of"]  # no open site in the United States
    assert shown["France"]["label"] == "France: 2 open studies" and shown["France"]["count"] == 2
    assert shown["Korea, Republic of"]["label"] == "Korea, Republic of: 1 open study"
    assert shown["Korea, Republic of"]["href"] == "index.html?country=Korea%2C+Republic+of"
    assert shown["France"]["path"].startswith("M") and len(world["dots"]) == 3  # Paris, Seoul, Lyon; not New York
    assert world["width"] == 960 and 0 < world["height"] < 960


def test_study_map_marks_open_and_other_sites_and_is_none_without_any_place() -> None:
    assert study_map([site_of(""), site_of("")]) is None
    sites = [site_of("48.85,2.35"), site_of("48.85,2.35", state="closed", number=2),
             site_of("45.75,4.85,c", state="closed", place="Lyon, France", number=3), site_of("", number=4)]
    drawn = study_map(sites)
    assert drawn is not None
    markers = drawn["markers"]
    assert len(markers) == 2  # the two Paris sites share a marker, open because one of them is
    paris = next(m for m in markers if m["id"] == "site-1")
    lyon = next(m for m in markers if m["id"] == "site-3")
    assert paris["open"] and paris["label"] == "2 sites around Paris, France: open now"
    assert not lyon["open"] and lyon["label"] == "Hospital 3, Lyon, France: not open now"
    assert lyon["y"] > paris["y"]  # south is down
    assert (drawn["placed"], drawn["unplaced"], drawn["approx"]) == (3, 1, 1)
    land = land_of(*drawn["view"])  # drawn when the page is, once per view
    assert land.startswith("M") and len(land) < 40_000  # only the countries in view, clipped to it
    west, north, span, tall = drawn["view"]
    assert span == 16 and west <= 2.35 <= west + span and north - tall <= 45.75 <= north


def test_partial_dates_are_drawn_inside_their_period() -> None:
    assert parse_date("2026-03-09") == dt.date(2026, 3, 9)
    assert parse_date("2026-03") == dt.date(2026, 3, 15)
    assert parse_date("2026") == dt.date(2026, 7, 1)
    assert parse_date("2099-13-45") is None and parse_date("soon") is None and parse_date(None) is None


def event(nct_id: str, kind: str, when: dt.datetime, old: str | None = None, new: str | None = None,
          status: str | None = "RECRUITING", removed: bool = False, event_id: int = 1) -> EventRow:  # fmt: skip
    return EventRow(id=event_id, run_id=1, nct_id=nct_id, kind=kind, field_path=None, old=old, new=new,
                    detected_at=when, last_update_posted=None, version_hash=None, ordinal=1, brief_title="T",
                    acronym=None, overall_status=status, removed=removed)  # fmt: skip


def test_timeline_tells_actual_from_estimated_dates_and_shows_our_changes() -> None:
    dates = {"start": ("2024-02-01", "ACTUAL"), "primary_completion": ("2026-06", "ESTIMATED"),
             "completion": ("2027-12", "ESTIMATED"), "results_posted": (None, "ACTUAL")}  # fmt: skip
    changes = [event("N1", "site_added", dt.datetime(2026, 11, 20, 9), new="Clinic, Lyon, France"),
               event("N1", "title_changed", dt.datetime(2026, 11, 20, 9))]  # fmt: skip
    timeline = study_timeline(dates, changes, "2026-11")  # the month of our last update
    assert timeline is not None
    rows = [(row["what"], row["how"]) for row in timeline["rows"]]
    assert rows == [("Start", "actual"), ("Main data collection ends", "estimated, has passed"),
                    ("New site: Clinic, Lyon, France", "recorded by us"), ("Study ends", "estimated")]
    xs = [row["x"] for row in timeline["rows"]]
    assert xs == sorted(xs) and timeline["left"] <= xs[0] and xs[-1] <= timeline["right"]
    assert timeline["ticks"][0]["label"] == "2024" and timeline["ticks"][-1]["label"] == "2028"
    assert timeline["estimated"] and timeline["now_x"] is not None
    assert study_timeline({}, [event("N1", "title_changed", dt.datetime(2026, 11, 20))], "") is None
    this_month = study_timeline({"completion": ("2026-11-02", "ESTIMATED")}, [], "2026-11")
    assert this_month is not None and this_month["rows"][0]["how"] == "estimated"  # it may not have passed yet


def test_open_studies_per_month_are_rebuilt_from_the_change_events() -> None:
    jan, feb, mar = dt.datetime(2026, 1, 10), dt.datetime(2026, 2, 10), dt.datetime(2026, 3, 10)
    events = [  # newest first, as the site reads them
        event("A", "status_changed", mar, old="NOT_YET_RECRUITING", new="RECRUITING", event_id=5),
        event("B", "removed", feb, status="RECRUITING", removed=True, event_id=4),
        event("C", "status_changed", feb, old="RECRUITING", new="COMPLETED", status="COMPLETED", event_id=3),
        event("A", "new_study", jan, new="NOT_YET_RECRUITING", event_id=2),
        event("B", "new_study", jan, new="RECRUITING", status="RECRUITING", removed=True, event_id=1),
        event("C", "new_study", jan, new="RECRUITING", status="COMPLETED", event_id=0),
    ]  # fmt: skip
    chart = open_per_month(events, dt.datetime(2026, 4, 2, tzinfo=dt.UTC))
    assert chart is not None
    assert [(bar["month"], bar["open"]) for bar in chart["bars"]] == [
        ("2026-01", 2), ("2026-02", 0), ("2026-03", 1), ("2026-04", 1)]  # fmt: skip
    assert chart["bars"][0]["label"] == "January 2026" and chart["top"] == 2
    assert chart["bars"][1]["height"] == 0 and chart["bars"][0]["height"] > chart["bars"][2]["height"] > 0
    assert open_per_month([], None) is None


def test_a_study_whose_sites_have_no_place_has_no_map_only_the_list(project: Project, tmp_path: Path) -> None:
    build_site_world(project)
    locations = StudyLocation
    with project.engine().begin() as conn:
        conn.execute(update(locations).where(locations.c.nct_id == "NCT06056297")
                     .values(lat=None, lon=None, city="Nowhere-in-the-gazetteer"))  # fmt: skip
    out = tmp_path / "site"
    render_world(project, out)
    page = (out / "study" / "NCT06056297.html").read_text(encoding="utf-8")
    assert 'class="map"' not in page and "map-svg" not in page
    assert page.count('<ul class="sites">') >= 1 and "Nowhere-in-the-gazetteer" in page
    assert 'class="map"' in (out / "study" / "NCT09990666.html").read_text(encoding="utf-8")  # the others keep it


def test_the_fixture_pages_carry_the_maps_timelines_and_chart(site: Path) -> None:
    index = (site / "index.html").read_text(encoding="utf-8")
    assert '<a class="country" href="index.html?country=France" data-country="France"' in index
    assert 'aria-label="France: ' in index and "The map as a list" in index
    study = (site / "study" / "NCT06056297.html").read_text(encoding="utf-8")
    for marker in re.findall(r'<a class="marker" href="#(site-\d+)"', study):
        assert f'<li id="{marker}">' in study  # every marker leads to its site in the list
    assert "mk-open" in study and "timeline-svg" in study and "The timeline as a table" in study
    assert "style=" not in index + study  # the pages' CSP allows no inline style
    changes = (site / "changes.html").read_text(encoding="utf-8")
    assert "Studies open at the end of each month" in changes and "<td>November 2026</td>" in changes


def test_the_index_map_stays_under_60_kb_gzipped_even_with_every_country() -> None:
    names = sorted(places.gazetteer().country_names.values())
    studies = [{"nct_id": f"N{i}", "countries": [name], "sites": [site_of(f"{(i % 140) - 55},{(i * 7) % 360 - 180}")]}
               for i, name in enumerate(names)]  # fmt: skip
    world = index_map(studies)
    assert len(world["countries"]) == len(names)
    html = make_environment().get_template("_world.html").render(world=world)
    assert len(gzip.compress(html.encode())) <= INDEX_MAP_MAX_GZIP


def test_a_new_event_renders_its_study_page_again(project: Project, site: Path, rendered: list[str]) -> None:  # noqa: F811
    with project.engine().begin() as conn:
        conn.execute(insert(ChangeEvent).values(
            run_id=2, nct_id="NCT00967785", kind="site_added", new_value="New Clinic, Lyon, France",
            detected_at=RUN_TIMES[2][0]))  # fmt: skip
    render_world(project, site)
    assert "study/NCT00967785.html" in per_study(rendered)
    assert "New site: New Clinic, Lyon, France" in (site / "study" / "NCT00967785.html").read_text(encoding="utf-8")
