"""The columns of every export table: the single source of truth for `trialfinder export` and the data dictionary.

Each `Column` says its name, type, the ClinicalTrials.gov field it comes from (or how trialfinder derives it), a
description, an example, and how its value is taken from a row (a dict built by trialfinder/export/rows.py). Column
order here is the order in every file. `docs/data-dictionary.md` is generated from these definitions:

    python -m trialfinder.export.columns > docs/data-dictionary.md      (or: trialfinder export --data-dictionary)

and tests/export/test_export.py checks that the file is current.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from trialfinder import wording

LIST_SEPARATOR = "|"  # joins the items of a list cell in CSV; jsonl/json give real arrays
NEUTRALISED_STARTS = ("=", "+", "-", "@", "\t", "\r")  # a text cell starting so gets a leading "'" in CSV

# Column types: what a cell holds in CSV, and the JSON type in jsonl/json.
TYPES = {
    "text": ("the text as given", "string"),
    "list": (f"items joined with `{LIST_SEPARATOR}` (no spaces)", "array of strings"),
    "integer": ("digits, e.g. `40`", "number"),
    "number": ("a decimal number, e.g. `47.60621`", "number"),
    "boolean": ("`true` or `false`", "true/false"),
    "date": ("`YYYY-MM-DD`, or `YYYY-MM` / `YYYY` when ClinicalTrials.gov gives only that", "string"),
    "datetime": ("UTC, `YYYY-MM-DDTHH:MM:SSZ`", "string"),
    "json": ("not in CSV", "object"),
}

Row = Mapping[str, Any]
LOCS = "protocolSection.contactsLocationsModule.locations[]"
STATUS = "protocolSection.statusModule"
ELIG = "protocolSection.eligibilityModule"
IDENT = "protocolSection.identificationModule"
INTERVENTIONS = "protocolSection.armsInterventionsModule.interventions[]"
TF = ""  # source of columns trialfinder itself records (no ClinicalTrials.gov field)


@dataclass(frozen=True)
class Column:
    """One export column. `source` is the ClinicalTrials.gov field path ("" for trialfinder's own data);
    `derived` marks values computed from that field rather than copied; `csv=False` columns exist only in
    jsonl/json."""

    name: str
    type: str
    source: str
    description: str
    example: str
    get: Callable[[Row], Any]
    derived: bool = False
    csv: bool = True


def col(name: str, type_: str, source: str, description: str, example: str, *,
        key: str | None = None, get: Callable[[Row], Any] | None = None, derived: bool = False,
        csv: bool = True) -> Column:  # fmt: skip
    """A Column whose value is row[key or name] unless `get` says otherwise."""
    assert type_ in TYPES, type_
    return Column(name, type_, source, description, example, get or itemgetter(key or name), derived, csv)


def _interventions(field: str) -> Callable[[Row], list[str]]:
    return lambda row: [item.get(field) or "" for item in row["interventions"]]


def _other_names(row: Row) -> list[str]:
    return [name for item in row["interventions"] for name in item.get("other_names") or []]


def _contacts(field: str) -> Callable[[Row], list[str]]:
    return lambda row: [str(contact.get(field) or "") for contact in row["contacts"] or []]


STUDIES = (
    col("nct_id", "text", f"{IDENT}.nctId", "The study's ClinicalTrials.gov id.", "NCT04154488"),
    col("url", "text", f"{IDENT}.nctId", "The study's page on ClinicalTrials.gov.",
        "https://clinicaltrials.gov/study/NCT04154488", get=lambda row: wording.study_url(row["nct_id"]),
        derived=True),
    col("brief_title", "text", f"{IDENT}.briefTitle", "Short title.", "A Study of Mavorixafor in WHIM Syndrome"),
    col("official_title", "text", f"{IDENT}.officialTitle", "Full official title.", "A Phase 3, Randomized…"),
    col("acronym", "text", f"{IDENT}.acronym", "Acronym, if any.", "4WHIM"),
    col("overall_status", "text", f"{STATUS}.overallStatus",
        "Recruitment status, as the API's code (what --status matches).", "RECRUITING"),
    col("why_stopped", "text", f"{STATUS}.whyStopped", "Why a study stopped early or was withdrawn.",
        "Sponsor decision"),
    col("status_verified_date", "date", f"{STATUS}.statusVerifiedDate", "When the status was last checked.",
        "2024-05"),
    col("study_type", "text", "protocolSection.designModule.studyType", "INTERVENTIONAL, OBSERVATIONAL or "
        "EXPANDED_ACCESS.", "INTERVENTIONAL"),
    col("phases", "list", "protocolSection.designModule.phases", "Trial phases, as API codes.", "PHASE2|PHASE3"),
    col("conditions", "list", "protocolSection.conditionsModule.conditions", "Conditions studied.",
        "WHIM Syndrome|Chronic Neutropenia"),
    col("keywords", "list", "protocolSection.conditionsModule.keywords", "Keywords given by the sponsor.",
        "CXCR4|rare disease"),
    col("intervention_types", "list", f"{INTERVENTIONS}.type", "Type of each intervention (DRUG, BIOLOGICAL…), "
        "in the order of intervention_names.", "DRUG|DRUG", get=_interventions("type")),
    col("intervention_names", "list", f"{INTERVENTIONS}.name", "Name of each intervention.",
        "Mavorixafor|Placebo", get=_interventions("name")),
    col("intervention_other_names", "list", f"{INTERVENTIONS}.otherNames[]", "Other names of all interventions, "
        "one list.", "X4P-001", get=_other_names),
    col("sponsor", "text", "protocolSection.sponsorCollaboratorsModule.leadSponsor.name", "Lead sponsor.",
        "X4 Pharmaceuticals"),
    col("sponsor_class", "text", "protocolSection.sponsorCollaboratorsModule.leadSponsor.class",
        "INDUSTRY, NIH, OTHER…", "INDUSTRY"),
    col("start_date", "date", f"{STATUS}.startDateStruct.date", "Study start.", "2019-10-01"),
    col("start_date_type", "text", f"{STATUS}.startDateStruct.type", "ACTUAL or ESTIMATED.", "ACTUAL"),
    col("primary_completion_date", "date", f"{STATUS}.primaryCompletionDateStruct.date",
        "Primary completion.", "2022-08"),
    col("primary_completion_date_type", "text", f"{STATUS}.primaryCompletionDateStruct.type",
        "ACTUAL or ESTIMATED.", "ACTUAL"),
    col("completion_date", "date", f"{STATUS}.completionDateStruct.date", "Study completion.", "2026-12"),
    col("completion_date_type", "text", f"{STATUS}.completionDateStruct.type", "ACTUAL or ESTIMATED.",
        "ESTIMATED"),
    col("first_posted", "date", f"{STATUS}.studyFirstPostDateStruct.date", "First posted on ClinicalTrials.gov.",
        "2019-11-06"),
    col("results_first_posted", "date", f"{STATUS}.resultsFirstPostDateStruct.date",
        "When results were first posted.", "2024-06-12"),
    col("last_update_posted", "date", f"{STATUS}.lastUpdatePostDateStruct.date",
        "When the record was last updated (what --updated-since compares).", "2025-01-15"),
    col("enrollment", "integer", "protocolSection.designModule.enrollmentInfo.count", "Participants.", "31"),
    col("enrollment_type", "text", "protocolSection.designModule.enrollmentInfo.type", "ACTUAL or ESTIMATED.",
        "ACTUAL"),
    col("sex", "text", f"{ELIG}.sex", "ALL, FEMALE or MALE.", "ALL"),
    col("min_age", "text", f"{ELIG}.minimumAge", "Minimum age as written.", "12 Years"),
    col("min_age_years", "number", f"{ELIG}.minimumAge", "Minimum age in years (months, weeks, days converted).",
        "12.0", derived=True),
    col("max_age", "text", f"{ELIG}.maximumAge", "Maximum age as written.", "17 Years"),
    col("max_age_years", "number", f"{ELIG}.maximumAge", "Maximum age in years.", "17.0", derived=True),
    col("std_ages", "list", f"{ELIG}.stdAges", "Age groups: CHILD, ADULT, OLDER_ADULT.", "CHILD|ADULT"),
    col("healthy_volunteers", "boolean", f"{ELIG}.healthyVolunteers", "Accepts healthy volunteers.", "false"),
    col("has_results", "boolean", "hasResults", "Results are posted.", "true"),
    col("site_count", "integer", LOCS, "Number of sites (rows in the locations table).", "6", derived=True),
    col("countries", "list", f"{LOCS}.country", "Countries of the sites, each once, in site order.",
        "United States|France", derived=True),
    col("searches", "list", TF, "The configured searches that found the study (study_searches), by name.",
        "cxcr4|mavorixafor"),
    col("first_seen", "datetime", TF, "When a trialfinder sync first stored the study.", "2026-11-20T09:00:05Z"),
    col("last_changed", "datetime", TF, "When a sync last stored a new version of it.", "2026-11-20T09:00:05Z"),
    col("version_hash", "text", TF, "SHA-256 of the current record (matches versions.version_hash).",
        "3f5a…", key="content_hash"),
    col("removed", "boolean", TF, "No search finds the study any more (see removed_reason); still exported "
        "unless --exclude-removed.", "false", get=lambda row: row["removed_at"] is not None),
    col("removed_at", "datetime", TF, "When a full sync found it gone.", "2026-11-27T09:00:05Z"),
    col("removed_reason", "text", TF, "Why: deleted, merged into another NCT id, or no longer matching.",
        "no longer on ClinicalTrials.gov"),
    col("brief_summary", "text", "protocolSection.descriptionModule.briefSummary", "Summary (Markdown text, "
        "may span lines).", "This study tests…"),
    col("eligibility_criteria", "text", f"{ELIG}.eligibilityCriteria", "Inclusion and exclusion criteria "
        "(Markdown text, may span lines).", "Inclusion Criteria: …"),
)  # fmt: skip

LOCATIONS = (
    col("nct_id", "text", f"{IDENT}.nctId", "The study the site belongs to.", "NCT06056297"),
    col("site_index", "integer", LOCS, "Position of the site in the record's list, from 0.", "0", key="position",
        derived=True),
    col("facility", "text", f"{LOCS}.facility", "Hospital or clinic.", "NIH Clinical Center"),
    col("city", "text", f"{LOCS}.city", "City.", "Bethesda"),
    col("state", "text", f"{LOCS}.state", "State or region, if given.", "Maryland"),
    col("zip", "text", f"{LOCS}.zip", "Postal code (text: keeps leading zeros).", "20892"),
    col("country", "text", f"{LOCS}.country", "Country (what --country matches).", "United States"),
    col("site_status", "text", f"{LOCS}.status", "Recruitment status at this site, as the API's code.",
        "RECRUITING", key="status"),
    col("lat", "number", f"{LOCS}.geoPoint.lat", "Latitude.", "38.98067"),
    col("lon", "number", f"{LOCS}.geoPoint.lon", "Longitude.", "-77.10026"),
    col("contact_names", "list", f"{LOCS}.contacts[].name", "Site contacts' names.", "Site Coordinator",
        get=_contacts("name")),
    col("contact_roles", "list", f"{LOCS}.contacts[].role", "Their roles, one item per contact (empty when not "
        "given).", "CONTACT", get=_contacts("role")),
    col("contact_phones", "list", f"{LOCS}.contacts[].phone", "Their phones, one item per contact.",
        "301-555-0100", get=_contacts("phone")),
    col("contact_emails", "list", f"{LOCS}.contacts[].email", "Their e-mails, one item per contact.",
        "site@example.org", get=_contacts("email")),
    col("study_status", "text", f"{STATUS}.overallStatus", "The study's overall status, for filtering sites.",
        "RECRUITING", key="overall_status"),
)  # fmt: skip

EVENTS = (
    col("event_id", "integer", TF, "Event id; grows with time (use as a cursor).", "42", key="id"),
    col("detected_at", "datetime", TF, "Start of the sync that found the change.", "2026-11-20T09:00:05Z"),
    col("run_id", "integer", TF, "That sync run (sync_runs.id).", "3"),
    col("nct_id", "text", f"{IDENT}.nctId", "The study.", "NCT09990001"),
    col("kind", "text", TF, "What changed: new_study, status_changed, site_added… (see README).",
        "status_changed"),
    col("group", "text", TF, "The digest group of the kind.", "New studies and recruitment",
        get=lambda row: wording.event_group(row["kind"])),
    col("field_path", "text", "(the field named here)", "The ClinicalTrials.gov field that changed; list items "
        "are named by identity in brackets.", "protocolSection.statusModule.overallStatus"),
    col("old_value", "text", "(field_path)", "Value before, as display text.", "NOT_YET_RECRUITING"),
    col("new_value", "text", "(field_path)", "Value after, as display text.", "RECRUITING"),
    col("sentence", "text", TF, "The change in plain words, as digests and feeds say it.",
        "Now recruiting (was: not yet recruiting)",
        get=lambda row: wording.describe_event(row["kind"], row["field_path"], row["old_value"], row["new_value"])),
    col("last_update_posted", "date", f"{STATUS}.lastUpdatePostDateStruct.date", "The record's update date in "
        "that version.", "2026-11-18"),
    col("version_id", "integer", TF, "The study version it led to (versions.version_id); empty for removals.",
        "17"),
    col("version_hash", "text", TF, "That version's content hash.", "3f5a…", key="content_hash"),
)  # fmt: skip

VERSIONS = (
    col("version_id", "integer", TF, "Version id (study_versions.id).", "17", key="id"),
    col("nct_id", "text", f"{IDENT}.nctId", "The study.", "NCT04154488"),
    col("version_hash", "text", TF, "SHA-256 of the canonical record, ignoring only the API's daily "
        "versionHolder stamp.", "3f5a…", key="content_hash"),
    col("run_id", "integer", TF, "The sync run that first stored this content.", "3"),
    col("last_update_posted", "date", f"{STATUS}.lastUpdatePostDateStruct.date", "The record's update date.",
        "2026-11-18"),
    col("recorded_at", "datetime", TF, "When that sync stored it.", "2026-11-20T09:00:05Z"),
    col("record", "json", "(the whole record)", "The study record exactly as the API sent it. jsonl/json only: "
        "records exceed a spreadsheet cell (32,767 characters) once results are posted.", "{…}",
        get=lambda row: row["raw_json"], csv=False),
)  # fmt: skip

TABLES: dict[str, tuple[str, tuple[Column, ...]]] = {
    "studies": ("one row per study", STUDIES),
    "locations": ("one row per site of a study (its current sites)", LOCATIONS),
    "events": ("one row per change event a sync recorded", EVENTS),
    "versions": ("one row per distinct stored version of a study", VERSIONS),
}


def columns_of(table: str) -> tuple[Column, ...]:
    """Every column of `table`, in file order."""
    return TABLES[table][1]


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _source_cell(column: Column) -> str:
    if not column.source:
        return "trialfinder"
    if column.source.startswith("("):
        return _md(column.source)
    return f"`{_md(column.source)}`" + (" (derived)" if column.derived else "")


def render_data_dictionary() -> str:
    """docs/data-dictionary.md as Markdown, from TABLES and TYPES."""
    lines = [
        "# trialfinder export: data dictionary",
        "",
        "Generated from `trialfinder/export/columns.py`; do not edit by hand. Refresh with",
        "`python -m trialfinder.export.columns > docs/data-dictionary.md` (a test checks it is current).",
        "",
        "- Columns come in the order listed, in every format. `--columns a,b,c` picks and orders them.",
        "- CSV: RFC 4180, UTF-8 (`--excel` adds a byte order mark), CRLF line ends, a header row. An empty cell is "
        "a value not given (`null` in jsonl/json; `[]` for a list). Lists are joined with "
        f"`{LIST_SEPARATOR}`; jsonl and json give them as arrays.",
        "- Text and list cells that begin with `=`, `+`, `-`, `@`, a tab or a carriage return get a leading `'` in "
        "CSV, so a spreadsheet shows them instead of running them as formulas. Numbers, dates, booleans and "
        "jsonl/json values are never changed.",
        "- Field paths are ClinicalTrials.gov API v2 names; `[]` means each item of a list. \"trialfinder\" means "
        "the value is trialfinder's own record of its syncs.",
        "",
        "## Types",
        "",
        "| type | CSV cell | JSON |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {name} | {_md(csv_words)} | {_md(json_words)} |" for name, (csv_words, json_words) in TYPES.items()]
    for table, (what, columns) in TABLES.items():
        lines += ["", f"## {table}", "", f"`trialfinder export --table {table}`: {what}.", "",
                  "| # | column | type | ClinicalTrials.gov field | description | example |",
                  "| --- | --- | --- | --- | --- | --- |"]  # fmt: skip
        for number, column in enumerate(columns, 1):
            example = f"`{_md(column.example)}`" if column.example else ""
            lines.append(f"| {number} | `{column.name}` | {column.type} | {_source_cell(column)} | "
                         f"{_md(column.description)} | {example} |")  # fmt: skip
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render_data_dictionary())
