"""Property tests (hypothesis): generated odd records go through normalize -> store -> diff -> render -> export ->
digest. Nothing raises; a record is stored or skipped by name; no output carries a control character; the stored
raw JSON is the record as given."""

from __future__ import annotations

import copy
import datetime as dt
import io
import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from tests.worldgen import make_study
from trialfinder.config import Config, load_config
from trialfinder.db import open_database
from trialfinder.export.rows import ExportRequest, pick_columns
from trialfinder.export.writers import export_to_stream
from trialfinder.history.diff import diff
from trialfinder.history.events import EventFilter, load_events, record_events
from trialfinder.ingest.runs import finish_run, start_run
from trialfinder.ingest.store import Candidate, StudyWriter
from trialfinder.mail.digest import digest_context, render_digest
from trialfinder.models import Study, studies_with_records, utcnow
from trialfinder.site.render import render_site

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
NUMBERS = st.one_of(st.integers(min_value=-(10**40), max_value=10**40), st.floats(allow_nan=True),
                    st.just(float("inf")), st.booleans(), st.none())  # fmt: skip
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=150)
DATES = st.one_of(st.sampled_from(["2027-01", "2099-13-45", "0000-00-00", "", "2024-02-30", "soon", "2024"]),
                  st.dates().map(dt.date.isoformat), TEXT)  # fmt: skip
ANY = st.one_of(TEXT, NUMBERS, DATES, st.lists(TEXT, max_size=3), st.dictionaries(TEXT, TEXT, max_size=2))

# Where an odd value goes: a path into the record, and what may be found there.
PLACES: list[tuple[tuple[str | int, ...], Any]] = [
    (("protocolSection", "identificationModule", "briefTitle"), TEXT),
    (("protocolSection", "identificationModule", "acronym"), ANY),
    (("protocolSection", "statusModule", "overallStatus"), ANY),
    (("protocolSection", "statusModule", "lastUpdatePostDateStruct", "date"), DATES),
    (("protocolSection", "statusModule", "startDateStruct", "date"), DATES),
    (("protocolSection", "designModule", "enrollmentInfo", "count"), NUMBERS),
    (("protocolSection", "designModule", "phases"), ANY),
    (("protocolSection", "conditionsModule", "conditions"), st.lists(TEXT, max_size=3)),
    (("protocolSection", "eligibilityModule", "minimumAge"), ANY),
    (("protocolSection", "descriptionModule", "briefSummary"), TEXT),
    (("protocolSection", "contactsLocationsModule", "locations", 0, "city"), ANY),
    (("protocolSection", "contactsLocationsModule", "locations", 0, "geoPoint", "lat"), NUMBERS),
]
counter = itertools.count(1)


def put(record: dict[str, Any], path: tuple[str | int, ...], value: Any) -> None:
    node: Any = record
    for key in path[:-1]:
        if isinstance(key, int):
            if not isinstance(node, list) or len(node) <= key:
                return
            node = node[key]
        else:
            node = node.setdefault(key, {}) if isinstance(node, dict) else {}
    if isinstance(node, dict):
        node[path[-1]] = value


@st.composite
def odd_records(draw: st.DrawFn) -> dict[str, Any]:
    """A synthetic study with a few of its values replaced by odd ones."""
    number = next(counter)
    record = make_study(number)
    record["protocolSection"]["identificationModule"]["nctId"] = f"NCT{80000000 + number:08d}"
    for path, values in draw(st.lists(st.sampled_from(PLACES), min_size=1, max_size=5)):
        put(record, path, draw(values))
    return record


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Config, Engine, Path]:
    folder = tmp_path_factory.mktemp("properties")
    (folder / "config.toml").write_text('[database]\nurl = "sqlite:///p.db"\n', encoding="utf-8")
    config = load_config(folder / "config.toml")
    return config, open_database(config.database.url), folder


@settings(max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])  # fmt: skip
@given(first=odd_records(), changes=st.lists(st.tuples(st.sampled_from(PLACES), ANY), min_size=1, max_size=3))
def test_odd_records_flow_through_every_stage(setup: tuple[Config, Engine, Path], first: dict[str, Any],
                                              changes: list[Any]) -> None:  # fmt: skip
    config, engine, folder = setup
    second = copy.deepcopy(first)
    for (path, _), value in changes:
        put(second, path, value)
    nct_id = first["protocolSection"]["identificationModule"]["nctId"]
    assert isinstance(diff(first, second), list)
    for record in (first, second):
        run_id = start_run(engine, "full")
        with engine.begin() as conn:
            writer = StudyWriter(conn, run_id, utcnow())
            changed = writer.write_page("whim", [Candidate.of(record)])
            record_events(conn, run_id, changed)
            row = conn.execute(studies_with_records().where(Study.c.nct_id == nct_id)).first()
            stored = None if row is None else row.raw_json
        finish_run(engine, run_id, status="succeeded", values={"studies_skipped": writer.counts.skipped})
        if nct_id in writer.skipped:
            assert writer.skipped[nct_id]["field"]
        elif record is second:
            assert stored is not None and json.loads(stored) == json.loads(json.dumps(second))
    outputs = {}
    site = render_site(config, engine, folder / "site")
    for rel in site.files:
        outputs[rel] = (site.out_dir / rel).read_text(encoding="utf-8")
    with engine.connect() as conn:
        for fmt in ("csv", "jsonl"):
            handle = io.StringIO()
            export_to_stream(config, conn, ExportRequest("studies", fmt, pick_columns("studies", fmt)), handle)
            outputs[f"export {fmt}"] = handle.getvalue().replace("\r\n", "\n")
        events = load_events(conn, EventFilter())
        context = digest_context(config, conn, events, start=utcnow() - dt.timedelta(days=1), end=utcnow())
        for fmt in ("text", "markdown", "html"):
            outputs[f"digest {fmt}"] = render_digest(context, fmt)
    for name, text in outputs.items():
        assert not CONTROL.search(text), (name, CONTROL.findall(text)[:5])
