"""`trialfinder export --datapackage DIR` and the site's exports/datapackage.json: Table Schemas from
export/columns.py, checked by the real `frictionless validate` (types, list fields, primary and foreign keys)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Project
from tests.scenario import change_world
from trialfinder.export.columns import LIST_SEPARATOR, columns_of
from trialfinder.export.datapackage import PACKAGE_TABLES
from trialfinder.export.site_files import write_site_exports


def frictionless_validate(descriptor: Path) -> dict:
    """The real `frictionless validate --json` report of a package."""
    command = shutil.which("frictionless", path=str(Path(sys.executable).parent))
    assert command is not None, "frictionless is a test extra"
    done = subprocess.run([command, "validate", "--json", str(descriptor)], capture_output=True, text=True,
                          timeout=180)  # fmt: skip
    report = json.loads(done.stdout)
    assert isinstance(report, dict)
    return report


def errors_of(report: dict) -> list[str]:
    tasks = [f"{task['name']}: {error['message']}" for task in report["tasks"] for error in task["errors"]]
    return [error["message"] for error in report["errors"]] + tasks


def synced_with_changes(project: Project) -> Project:
    project.cli("sync")
    change_world(project)
    project.cli("sync", "--full")
    return project


@pytest.mark.slow
def test_datapackage_validates_with_frictionless(project: Project) -> None:
    synced_with_changes(project)
    out = project.path / "package"
    result = project.cli("export", "--datapackage", str(out))
    assert f"wrote {out / 'datapackage.json'} and 4 CSV files" in result.stderr
    package = json.loads((out / "datapackage.json").read_text(encoding="utf-8"))
    assert [r["path"] for r in package["resources"]] == [f"{t}.csv" for t in PACKAGE_TABLES]
    report = frictionless_validate(out / "datapackage.json")
    assert report["valid"], errors_of(report)
    assert len(report["tasks"]) == 4 and all(task["stats"]["rows"] > 0 for task in report["tasks"])

    schemas = {r["name"]: r["schema"] for r in package["resources"]}
    studies = {f["name"]: f for f in schemas["studies"]["fields"]}
    assert [f["name"] for f in schemas["studies"]["fields"]] == [c.name for c in columns_of("studies") if c.csv]
    assert studies["conditions"]["type"] == "list" and studies["conditions"]["delimiter"] == LIST_SEPARATOR
    assert studies["enrollment"]["type"] == "integer" and studies["has_results"]["type"] == "boolean"
    assert studies["brief_title"]["description"] == "Short title."
    assert schemas["studies"]["primaryKey"] == ["nct_id"]
    assert schemas["locations"]["primaryKey"] == ["nct_id", "site_index"]
    assert {"fields": "version_id", "reference": {"resource": "versions", "fields": "version_id"}} in \
        schemas["events"]["foreignKeys"]
    assert "record" not in {f["name"] for f in schemas["versions"]["fields"]}  # jsonl/json only
    assert package["trialfinder"]["data_timestamp"] and package["licenses"][0]["path"].startswith("https://")


@pytest.mark.slow
def test_a_broken_file_fails_frictionless(project: Project) -> None:
    """The schemas are strict enough to catch damage: a study id twice and a site of an unknown study."""
    synced_with_changes(project)
    out = project.path / "package"
    project.cli("export", "--datapackage", str(out))
    studies = (out / "studies.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    (out / "studies.csv").write_text("".join([*studies, studies[1]]), encoding="utf-8")
    locations = out / "locations.csv"
    with locations.open("a", encoding="utf-8", newline="") as handle:
        handle.write("NCT00000000,0,,,,,,,,,,,,,\r\n")
    errors = " ".join(errors_of(frictionless_validate(out / "datapackage.json")))
    assert "primary key" in errors.lower() and "foreign key" in errors.lower()


@pytest.mark.slow
def test_site_exports_carry_a_valid_datapackage(project: Project) -> None:
    synced_with_changes(project)
    out = project.path / "site"
    write_site_exports(project.config, project.engine(), out)
    package = json.loads((out / "exports" / "datapackage.json").read_text(encoding="utf-8"))
    assert [r["name"] for r in package["resources"]] == ["studies", "locations", "events"]
    events = next(r for r in package["resources"] if r["name"] == "events")
    assert [k["reference"]["resource"] for k in events["schema"]["foreignKeys"]] == ["studies"]  # no versions.csv
    report = frictionless_validate(out / "exports" / "datapackage.json")
    assert report["valid"], errors_of(report)


def test_datapackage_takes_no_other_option(project: Project) -> None:
    result = project.cli("export", "--datapackage", str(project.path / "p"), "--table", "events", expect=2)
    assert result.stderr == ("trialfinder: error: --datapackage writes every table whole and takes no other option "
                             "(got --table)\n")  # fmt: skip
    assert not (project.path / "p").exists()
