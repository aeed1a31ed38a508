"""`trialfinder export` on worlds synced from the fake API: whole outputs, read-back against the raw records, formula
neutralisation, jsonl round trips, BOM, provenance, filters, bad input, atomic files and the data dictionary.

Golden files (tests/golden/export_*.csv) are refreshed with
`UPDATE_GOLDEN=1 .venv/bin/pytest tests/export/test_export.py`.
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import io
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.conftest import Project
from tests.scenario import change_world
from trialfinder.cli import main
from trialfinder.export import rows as export_rows
from trialfinder.export import writers as export_writers
from trialfinder.export.columns import LIST_SEPARATOR, TABLES, columns_of, render_data_dictionary
from trialfinder.export.rows import ExportFilter, ExportRequest, pick_columns
from trialfinder.export.site_files import write_site_exports
from trialfinder.export.writers import export_to_file

REPO = Path(__file__).resolve().parent.parent.parent
GOLDEN = Path(__file__).parent.parent / "golden"
FIRST_SYNC = dt.datetime(2026, 11, 20, 9, 0, 5, tzinfo=dt.UTC)
SECOND_SYNC = dt.datetime(2026, 11, 27, 9, 0, 5, tzinfo=dt.UTC)
EXPORTED = dt.datetime(2026, 11, 28, 12, 0, 0, tzinfo=dt.UTC)
DATA_TIMESTAMP = "2026-11-20T09:00:05"
SAFE_STARTS = ("=", "+", "-", "@", "\t", "\r")


class Clock:
    """utcnow for the sync and the export: one fixed instant per step, so whole outputs are stable."""

    def __init__(self) -> None:
        self.now = FIRST_SYNC

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fixed = Clock()
    for module in ("trialfinder.ingest.store", "trialfinder.ingest.runs", "trialfinder.ingest.sync"):
        monkeypatch.setattr(f"{module}.utcnow", fixed)
    monkeypatch.setattr("trialfinder.export.writers.utcnow", lambda: EXPORTED)
    return fixed


def synced(project: Project, clock: Clock) -> Project:
    """The fixture world, synced once."""
    clock.now = FIRST_SYNC
    project.cli("sync")
    return project


def scenario(project: Project, clock: Clock) -> Project:
    """Sync, then a status flip, a new site, a new study, results posted and a removed study, then a full sync."""
    synced(project, clock)
    change_world(project)
    clock.now = SECOND_SYNC
    project.cli("sync", "--full")
    return project


def export_text(project: Project, *args: str) -> str:
    """The exact stdout of `trialfinder export ARGS` (CliResult.stdout turns CRLF into LF)."""
    result = CliRunner().invoke(main, ["--config", str(project.config_path), "export", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return result.stdout_bytes.decode("utf-8")


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


# --- whole outputs ----------------------------------------------------------------------------------------------


def test_chosen_columns_whole_output(project: Project, clock: Clock) -> None:
    scenario(project, clock)
    out = export_text(project, "--columns", "nct_id,overall_status,phases,enrollment,site_count,removed,removed_at")
    assert out == (
        "nct_id,overall_status,phases,enrollment,site_count,removed,removed_at\r\n"
        "NCT00967785,COMPLETED,PHASE1,3,1,false,\r\n"
        "NCT03005327,COMPLETED,PHASE2,8,2,false,\r\n"
        "NCT03547830,UNKNOWN,PHASE2,20,1,true,2026-11-27T09:00:05Z\r\n"
        "NCT03995108,COMPLETED,PHASE3,31,4,false,\r\n"
        "NCT04154488,ACTIVE_NOT_RECRUITING,PHASE1|PHASE2,43,3,false,\r\n"
        "NCT06056297,RECRUITING,PHASE3,150,7,false,\r\n"
        "NCT09990001,RECRUITING,,200,1,false,\r\n"
        "NCT09990002,WITHDRAWN,EARLY_PHASE1,0,1,false,\r\n"
        "NCT09990077,NOT_YET_RECRUITING,,200,1,false,\r\n"
    )
    sites = export_text(project, "--table", "locations", "--country", "france",
                        "--columns", "nct_id,site_index,facility,city,zip,country,site_status,lat,lon")  # fmt: skip
    assert sites == (
        "nct_id,site_index,facility,city,zip,country,site_status,lat,lon\r\n"
        "NCT03995108,1,Research Site,Paris,75015,France,,48.85341,2.3488\r\n"
        "NCT06056297,5,Investigational Site,Lyon,69008,France,WITHDRAWN,45.74846,4.84671\r\n"
        "NCT06056297,6,Hôpital Necker,Paris,75015,France,NOT_YET_RECRUITING,,\r\n"
    )


@pytest.mark.parametrize("table", ["studies", "locations", "events", "versions"])
def test_every_column_whole_output(project: Project, clock: Clock, table: str) -> None:
    scenario(project, clock)
    out = export_text(project, "--table", table)
    golden = GOLDEN / f"export_{table}.csv"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_bytes(out.encode("utf-8"))
    assert out == golden.read_bytes().decode("utf-8")
    header = out.split("\r\n", 1)[0]
    assert header == ",".join(c.name for c in columns_of(table) if c.csv)


# --- read back against the raw records ---------------------------------------------------------------------------


def resolve(data: Any, path: str) -> Any:
    """A dotted API path in a record; `name[]` walks into each item of a list (and the result is a list)."""
    values, many = [data], False
    for part in path.split("."):
        key = part.removesuffix("[]")
        values = [value.get(key) if isinstance(value, dict) else None for value in values]
        if part.endswith("[]"):
            values, many = [item for value in values for item in (value or [])], True
    return values if many else values[0]


def expected_cell(type_: str, value: Any) -> str:
    """What a CSV cell must hold for a raw API value (written from the issue's rules, not the exporter's code)."""
    if value is None:
        return ""
    if type_ == "list":
        text = LIST_SEPARATOR.join("" if item is None else str(item) for item in value)
    elif type_ == "boolean":
        return "true" if value else "false"
    elif type_ in ("integer", "number", "date"):
        return str(value)
    else:
        text = str(value)
    return "'" + text if text.startswith(SAFE_STARTS) else text


def copied_columns(table: str) -> list[Any]:
    """Columns whose value is copied from a ClinicalTrials.gov field (not derived, not trialfinder's own)."""
    return [c for c in columns_of(table) if c.csv and c.source and not c.derived and not c.source.startswith("(")]


def site_of(record: dict[str, Any], index: int) -> dict[str, Any]:
    site: dict[str, Any] = record["protocolSection"]["contactsLocationsModule"]["locations"][index]
    return site


def test_study_rows_read_back_match_the_raw_records(project: Project, clock: Clock) -> None:
    synced(project, clock)
    rows = read_csv(export_text(project))
    assert [r["nct_id"] for r in rows] == sorted(project.api.nct_ids)
    checked = 0
    for row in rows:
        record = project.api.get(row["nct_id"])
        for column in copied_columns("studies"):
            cell, value = row[column.name], resolve(record, column.source)
            if column.type == "number":
                assert float(cell) == float(value), column.name
            else:
                assert cell == expected_cell(column.type, value), (row["nct_id"], column.name)
            checked += 1
        sites = resolve(record, "protocolSection.contactsLocationsModule.locations[]")
        assert row["site_count"] == str(len(sites))
        assert row["countries"] == LIST_SEPARATOR.join(dict.fromkeys(s["country"] for s in sites))
        assert row["url"] == f"https://clinicaltrials.gov/study/{row['nct_id']}"
        assert row["has_results"] == ("true" if record.get("hasResults") or "resultsSection" in record else "false")
        assert row["removed"] == "false" and row["removed_at"] == ""
        assert row["first_seen"] == row["last_changed"] == "2026-11-20T09:00:05Z"
    assert checked == len(rows) * len(copied_columns("studies")) > 8 * 30


def test_location_rows_read_back_match_the_raw_records(project: Project, clock: Clock) -> None:
    synced(project, clock)
    rows = read_csv(export_text(project, "--table", "locations"))
    assert len(rows) == sum(len(resolve(project.api.get(n), "protocolSection.contactsLocationsModule.locations[]"))
                            for n in project.api.nct_ids)  # fmt: skip
    prefix = "protocolSection.contactsLocationsModule.locations[]."
    for row in rows:
        record = project.api.get(row["nct_id"])
        site = site_of(record, int(row["site_index"]))
        for column in copied_columns("locations"):
            if column.source.startswith(prefix):
                value = resolve(site, column.source.removeprefix(prefix))
            else:
                value = resolve(record, column.source)
            if column.type == "number" and value is not None:
                assert float(row[column.name]) == float(value)
            else:
                assert row[column.name] == expected_cell(column.type, value), (row["nct_id"], column.name)
    contacts = [r for r in rows if r["contact_names"]]
    assert contacts and all(r["contact_emails"].endswith("@example.org") for r in contacts)


def test_jsonl_round_trips_and_matches_csv(project: Project, clock: Clock) -> None:
    scenario(project, clock)
    for table in TABLES:
        lines = export_text(project, "--table", table, "--format", "jsonl").splitlines()
        objects = [json.loads(line) for line in lines]
        assert [json.dumps(o, ensure_ascii=False) for o in objects] == lines  # loads/dumps gives the same text
        assert all(list(o) == [c.name for c in columns_of(table)] for o in objects)
        assert json.loads(export_text(project, "--table", table, "--format", "json")) == objects
        csv_rows = read_csv(export_text(project, "--table", table))
        assert len(csv_rows) == len(objects) > 0
        for obj, row in zip(objects, csv_rows, strict=True):
            for column in columns_of(table):
                if not column.csv:
                    continue
                value = obj[column.name]
                if column.type == "number" and value is not None:
                    assert float(row[column.name]) == value
                elif column.type not in ("datetime",):
                    assert row[column.name] == expected_cell(column.type, value), (table, column.name)
                else:
                    assert row[column.name] == (value or "")
    studies = [json.loads(line) for line in export_text(project, "--format", "jsonl").splitlines()]
    live = {o["nct_id"]: o for o in studies if not o["removed"]}
    for nct_id, obj in live.items():
        record = project.api.get(nct_id)
        assert obj["conditions"] == record["protocolSection"]["conditionsModule"]["conditions"]
        assert obj["enrollment"] == record["protocolSection"]["designModule"]["enrollmentInfo"]["count"]
    versions = [json.loads(line) for line in export_text(project, "--table", "versions", "--format",
                                                         "jsonl").splitlines()]  # fmt: skip
    newest = {v["nct_id"]: v for v in versions}  # ordered by id: the last one is the current record
    for nct_id in live:
        assert newest[nct_id]["record"] == project.api.get(nct_id)
    assert sum(1 for v in versions if v["nct_id"] == "NCT09990001") == 2


# --- formula injection ------------------------------------------------------------------------------------------

INJECTED = "NCT09990066"


def _inject(project: Project) -> None:
    record = copy.deepcopy(project.api.get("NCT09990002"))
    protocol = record["protocolSection"]
    protocol["identificationModule"].update(nctId=INJECTED, briefTitle='=HYPERLINK("http://evil.invalid","open")',
                                            officialTitle="+SUM(1,2)", acronym="-2+3")  # fmt: skip
    protocol["statusModule"]["whyStopped"] = "\rcarriage"
    protocol["conditionsModule"]["conditions"] = ["@SUM(A1)", "=not first"]
    protocol["conditionsModule"]["keywords"] = ["\ttabbed"]
    site = protocol["contactsLocationsModule"]["locations"][0]
    site.update(facility="=1+1", city="-Minus", contacts=[{"name": "+Plus", "role": "CONTACT"}])
    project.api.put(record)


def test_formula_cells_are_neutralised_but_numbers_are_not(project: Project, clock: Clock) -> None:
    _inject(project)
    synced(project, clock)
    study = {r["nct_id"]: r for r in read_csv(export_text(project))}[INJECTED]
    assert study["brief_title"] == '\'=HYPERLINK("http://evil.invalid","open")'
    assert study["official_title"] == "'+SUM(1,2)"
    assert study["acronym"] == "'-2+3"
    assert study["why_stopped"] == "carriage"  # a CR is a control character: removed at output time
    assert study["conditions"] == "'@SUM(A1)|=not first"  # only the cell's start matters to a spreadsheet
    assert study["keywords"] == "'\ttabbed"
    assert study["brief_summary"][:1] not in (*SAFE_STARTS, "'")
    site = next(r for r in read_csv(export_text(project, "--table", "locations")) if r["nct_id"] == INJECTED)
    assert (site["facility"], site["city"], site["contact_names"]) == ("'=1+1", "'-Minus", "'+Plus")
    assert site["lon"] == "-87.65005" and site["lat"] == "41.85003"  # a negative number stays a number
    all_cells = [cell for r in read_csv(export_text(project)) for cell in r.values()]
    assert not [cell for cell in all_cells if cell.startswith(SAFE_STARTS)]
    for table in ("studies", "locations"):  # byte for byte what the csv module writes for the same rows
        text = export_text(project, "--table", table)
        again = io.StringIO(newline="")
        csv.writer(again, lineterminator="\r\n").writerows(csv.reader(io.StringIO(text, newline="")))
        assert text == again.getvalue()
    obj = next(json.loads(line) for line in export_text(project, "--format", "jsonl").splitlines()
               if INJECTED in line)  # fmt: skip
    assert obj["brief_title"].startswith("=HYPERLINK") and obj["conditions"] == ["@SUM(A1)", "=not first"]


# --- files, BOM, provenance -------------------------------------------------------------------------------------


def test_a_single_column_keeps_its_empty_cells(project: Project, clock: Clock) -> None:
    synced(project, clock)
    text = export_text(project, "--columns", "acronym")
    assert text.startswith('acronym\r\n""\r\n')  # an empty line would read back as no row at all
    assert len(list(csv.reader(io.StringIO(text, newline="")))) == 1 + len(project.api.nct_ids)


def test_excel_adds_a_bom_only_when_asked(project: Project, clock: Clock) -> None:
    synced(project, clock)
    plain, excel = project.path / "plain.csv", project.path / "excel.csv"
    project.cli("export", "-o", str(plain))
    project.cli("export", "--excel", "-o", str(excel))
    assert excel.read_bytes() == b"\xef\xbb\xbf" + plain.read_bytes()
    assert plain.read_bytes().startswith(b"nct_id,url,")
    assert export_text(project, "--excel", "--columns", "nct_id").startswith("\ufeffnct_id\r\n")
    with excel.open(encoding="utf-8-sig", newline="") as handle:
        assert next(csv.reader(handle))[0] == "nct_id"


def test_output_file_gets_a_provenance_sidecar(project: Project, clock: Clock) -> None:
    synced(project, clock)
    target = project.path / "out" / "whim.csv"
    result = project.cli("export", "--search", "whim", "--status", "completed,withdrawn", "-o", str(target))
    assert result.stdout == ""
    assert result.stderr.startswith(f"wrote {target} and whim.csv.meta.json: 4 rows of studies (csv); ")
    assert sorted(p.name for p in target.parent.iterdir()) == ["whim.csv", "whim.csv.meta.json"]
    text = target.read_text(encoding="utf-8")
    assert text.startswith("nct_id,") and "#" not in text.split("\r\n", 1)[0]
    assert [r["nct_id"] for r in read_csv(text)] == ["NCT00967785", "NCT03005327", "NCT03995108", "NCT09990002"]
    meta = json.loads((target.parent / "whim.csv.meta.json").read_text(encoding="utf-8"))
    assert meta["rows"] == 4 and meta["table"] == "studies" and meta["format"] == "csv" and meta["file"] == "whim.csv"
    assert meta["filters"]["searches"] == ["whim"] and meta["filters"]["statuses"] == ["COMPLETED", "WITHDRAWN"]
    assert [s["name"] for s in meta["searches"]] == ["whim", "mavorixafor", "cxcr4", "whim-eligibility"]
    assert meta["searches"][0]["params"]["query.cond"].startswith("WHIM syndrome OR")
    assert meta["clinicaltrials_gov"]["data_timestamp"] == DATA_TIMESTAMP
    assert meta["clinicaltrials_gov"]["last_sync_finished_at"] == "2026-11-20T09:00:05Z"
    assert meta["exported_at"] == "2026-11-28T12:00:00Z"
    assert meta["columns"][0] == "nct_id" and meta["list_separator"] == "|"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_stdout_mode_writes_provenance_to_stderr_only(project: Project, clock: Clock) -> None:
    synced(project, clock)
    before = sorted(p.name for p in project.path.iterdir())
    result = project.cli("export", "--table", "events", "--format", "jsonl")
    assert result.stderr == (
        "exported 8 rows of events (jsonl); searches: whim, mavorixafor, cxcr4, whim-eligibility; "
        f"ClinicalTrials.gov data as of {DATA_TIMESTAMP}; last sync 2026-11-20T09:00:05Z; "
        "exported at 2026-11-28T12:00:00Z\n"
    )
    assert all(line.startswith("{") for line in result.stdout.splitlines())
    assert sorted(p.name for p in project.path.iterdir()) == before
    assert project.cli("-q", "export").stderr == ""


def test_site_exports(project: Project, clock: Clock) -> None:
    scenario(project, clock)
    out_dir = project.path / "site"
    paths = write_site_exports(project.config, project.engine(), out_dir)
    assert paths == [out_dir / "exports" / f"{t}.csv" for t in ("studies", "locations", "events")]
    assert sorted(p.name for p in (out_dir / "exports").iterdir()) == sorted(
        [p.name for p in paths] + [p.name + ".meta.json" for p in paths] + ["data-dictionary.md", "datapackage.json"])
    assert (out_dir / "exports" / "data-dictionary.md").read_text(encoding="utf-8") == render_data_dictionary()
    for path, table in zip(paths, ("studies", "locations", "events"), strict=True):
        assert path.read_bytes().decode("utf-8") == export_text(project, "--table", table)
        assert json.loads(path.with_name(path.name + ".meta.json").read_text())["table"] == table


# --- filters ----------------------------------------------------------------------------------------------------


def test_filters_pick_studies_like_the_digest(project: Project, clock: Clock) -> None:
    scenario(project, clock)

    def ids(*args: str, table: str = "studies") -> list[str]:
        return [r["nct_id"] for r in read_csv(export_text(project, "--table", table, *args))]

    everything = ids()
    assert len(everything) == 9 and "NCT03547830" in everything  # removed studies are included...
    assert "NCT03547830" not in ids("--exclude-removed")  # ...unless asked not to
    assert ids("--status", "recruiting") == ["NCT06056297", "NCT09990001"]
    assert ids("--status", "RECRUITING,not_yet_recruiting") == ["NCT06056297", "NCT09990001", "NCT09990077"]
    assert ids("--phase", "PHASE3") == ["NCT03995108", "NCT06056297"]
    assert ids("--phase", "phase1", "--phase", "PHASE3") == [
        "NCT00967785", "NCT03995108", "NCT04154488", "NCT06056297"]  # fmt: skip
    assert ids("--phase", "EARLY_PHASE1") == ["NCT09990002"]  # PHASE1 above did not match EARLY_PHASE1
    assert ids("--search", "whim,mavorixafor") == ids("--search", "whim", "--search", "mavorixafor")
    assert set(ids("--search", "whim")) < set(everything)
    assert ids("--country", "Australia") == ["NCT06056297"]
    assert ids("--updated-since", "2026-01-01") == [
        n for n, posted in [(r["nct_id"], r["last_update_posted"]) for r in read_csv(export_text(project))]
        if posted >= "2026-01-01"]  # fmt: skip
    assert ids("--country", "France", table="locations") == ["NCT03995108", "NCT06056297", "NCT06056297"]
    assert set(ids("--country", "France", table="events")) == {"NCT03995108", "NCT06056297"}
    assert set(ids("--status", "recruiting", table="versions")) == {"NCT06056297", "NCT09990001"}
    assert len(ids("--status", "recruiting", table="versions")) == 4  # both changed in the scenario: 2 versions each


# --- bad input --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--table", "sites"], "unknown --table 'sites'; choose from: studies, locations, events, versions"),
        (["--format", "xlsx"], "unknown --format 'xlsx'; choose from: csv, jsonl, json"),
        (["--columns", "nct_id,title"], "unknown column 'title' for --table studies; choose from: nct_id, url, "),
        (["--table", "versions", "--columns", "record"], "column 'record' is only in --format jsonl or json"),
        (["--columns", ","], "--columns is empty; give column names separated by commas"),
        (["--format", "jsonl", "--excel"], "--excel only applies to --format csv"),
        (["--search", "whim,nope"], "unknown search 'nope'; choose from: whim, mavorixafor, cxcr4"),
        (["--status", "open"], "unknown --status 'OPEN'; choose from: RECRUITING, NOT_YET_RECRUITING,"),
        (["--phase", "PHASE5"], "unknown --phase 'PHASE5'; choose from: EARLY_PHASE1, PHASE1, PHASE2, PHASE3, "
                                "PHASE4, NA"),
        (["--country", "Narnia"], "unknown --country 'Narnia'; countries with sites: "),
        (["--updated-since", "2026-13-01"], "--updated-since '2026-13-01' is not a date; use YYYY-MM-DD"),
        (["--updated-since", "2026-1-1"], "--updated-since '2026-1-1' is not a date; use YYYY-MM-DD"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_exit_2_and_no_file(project: Project, clock: Clock, args: list[str],
                                                  message: str) -> None:  # fmt: skip
    synced(project, clock)
    target = project.path / "out" / "studies.csv"
    result = project.cli("export", *args, "-o", str(target), expect=2)
    assert result.stderr.startswith(f"trialfinder: error: {message}"), result.stderr
    assert result.stderr.count("\n") == 1 and result.stdout == ""
    assert not target.parent.exists()
    target.parent.mkdir()
    target.write_text("previous export\n", encoding="utf-8")
    project.cli("export", *args, "-o", str(target), expect=2)
    assert [p.name for p in target.parent.iterdir()] == ["studies.csv"]
    assert target.read_text(encoding="utf-8") == "previous export\n"


def test_a_failure_while_writing_leaves_the_previous_file(project: Project, clock: Clock,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    synced(project, clock)
    target = project.path / "studies.csv"
    target.write_text("previous export\n", encoding="utf-8")
    real_rows = export_rows.iter_rows

    def failing_rows(*args: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
        rows = real_rows(*args, **kwargs)
        yield next(rows)
        raise RuntimeError("database went away")

    monkeypatch.setattr(export_writers, "iter_rows", failing_rows)
    request = ExportRequest("studies", "csv", pick_columns("studies", "csv"), ExportFilter())
    with pytest.raises(RuntimeError):
        export_to_file(project.config, project.engine(), request, target)
    assert sorted(p.name for p in project.path.iterdir() if p.name.startswith(("studies", ".studies"))) == [
        "studies.csv"]  # fmt: skip
    assert target.read_text(encoding="utf-8") == "previous export\n"


# --- data dictionary --------------------------------------------------------------------------------------------


def test_data_dictionary_is_current(project: Project) -> None:
    text = render_data_dictionary()
    assert (REPO / "docs" / "data-dictionary.md").read_text(encoding="utf-8") == text, (
        "docs/data-dictionary.md is stale: python -m trialfinder.export.columns > docs/data-dictionary.md")
    assert project.cli("export", "--data-dictionary").stdout == text
    for table in TABLES:
        assert f"## {table}\n" in text
        for column in columns_of(table):
            assert f"| `{column.name}` | {column.type} |" in text
            assert column.description and column.example, (table, column.name)


def test_side_streams_are_taken_study_by_study() -> None:
    sites = export_rows._Alongside(iter([("NCT1", "a"), ("NCT2", "b"), ("NCT2", "c"), ("NCT4", "d"), ("NCT5", "e")]))
    # NCT1 is not in the main stream (say, committed between the queries): skipped, never given to NCT2
    assert [sites.take(key) for key in ("NCT2", "NCT3", "NCT4", "NCT6")] == [["b", "c"], [], ["d"], []]
