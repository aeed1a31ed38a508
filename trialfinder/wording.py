"""Plain words for ClinicalTrials.gov codes, shared by the site, digests, feeds, emails and exports.

Unknown codes (the API may add enum values) fall back to the code itself in sentence case, never an error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Control characters that text from a record may carry (NUL, backspace, ESC and terminal escape sequences, DEL, the
# C1 controls): removed from everything shown or written (pages, feeds, digests, e-mails, CSV/JSON, the terminal),
# never from the stored raw JSON. Tab and newline are kept; a CR goes too (a CRLF becomes LF).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """`text` without control characters other than tab and newline (the one helper every output uses)."""
    return _CONTROL.sub("", text) if _CONTROL.search(text) else text


CTGOV_STUDY_URL = "https://clinicaltrials.gov/study/{nct_id}"
CTGOV_HISTORY_URL = "https://clinicaltrials.gov/study/{nct_id}?tab=history"
CTGOV_RESULTS_URL = "https://clinicaltrials.gov/study/{nct_id}?tab=results"

STATUS_WORDS = {
    "RECRUITING": "Recruiting",
    "NOT_YET_RECRUITING": "Not yet recruiting",
    "ENROLLING_BY_INVITATION": "Enrolling by invitation only",
    "ACTIVE_NOT_RECRUITING": "Running, not recruiting",
    "SUSPENDED": "Suspended (paused)",
    "TERMINATED": "Stopped early",
    "WITHDRAWN": "Withdrawn before it started",
    "COMPLETED": "Completed",
    "AVAILABLE": "Available (expanded access)",
    "NO_LONGER_AVAILABLE": "No longer available",
    "TEMPORARILY_NOT_AVAILABLE": "Temporarily not available",
    "APPROVED_FOR_MARKETING": "Approved for marketing",
    "WITHHELD": "Withheld",
    "UNKNOWN": "Status not verified recently",
}

# The recruitment groups patients filter by, in the order shown.
RECRUITMENT_GROUPS = (
    "Recruiting now",
    "Starting soon",
    "By invitation only",
    "Running, not recruiting",
    "Finished",
    "Stopped early / withdrawn",
    "Status not known",
)
_GROUP_OF_STATUS = {
    "RECRUITING": "Recruiting now",
    "AVAILABLE": "Recruiting now",
    "NOT_YET_RECRUITING": "Starting soon",
    "ENROLLING_BY_INVITATION": "By invitation only",
    "ACTIVE_NOT_RECRUITING": "Running, not recruiting",
    "TEMPORARILY_NOT_AVAILABLE": "Running, not recruiting",
    "COMPLETED": "Finished",
    "APPROVED_FOR_MARKETING": "Finished",
    "NO_LONGER_AVAILABLE": "Finished",
    "SUSPENDED": "Stopped early / withdrawn",
    "TERMINATED": "Stopped early / withdrawn",
    "WITHDRAWN": "Stopped early / withdrawn",
    "WITHHELD": "Stopped early / withdrawn",
}

PHASE_WORDS = {
    "EARLY_PHASE1": "Early phase 1",
    "PHASE1": "Phase 1",
    "PHASE2": "Phase 2",
    "PHASE3": "Phase 3",
    "PHASE4": "Phase 4",
    "NA": "Not applicable",
}

STUDY_TYPE_WORDS = {
    "INTERVENTIONAL": "Tests a treatment",
    "OBSERVATIONAL": "Observes patients (no study treatment)",
    "EXPANDED_ACCESS": "Expanded access (treatment outside a trial)",
}

SEX_WORDS = {"ALL": "All sexes", "FEMALE": "Female only", "MALE": "Male only"}

AGE_GROUPS = ("child", "adult", "older adult")
_AGE_GROUP_OF_STD = {"CHILD": "child", "ADULT": "adult", "OLDER_ADULT": "older adult"}
CHILD_UNDER_YEARS, OLDER_ADULT_FROM_YEARS = 18.0, 65.0


def _fallback(code: str | None) -> str:
    if not code:
        return "Not given"
    return code.replace("_", " ").capitalize()


def display_title(brief_title: str | None, nct_id: str) -> str:
    """A record's brief title on one line (white space folded), or its NCT id when it has none."""
    return " ".join((brief_title or "").split()) or nct_id


def listing_status(code: str | None, removed: bool) -> str:
    """The status a study is shown with: "No longer listed" once removed, else its status in words."""
    return "No longer listed" if removed else status_words(code)


def status_words(code: str | None) -> str:
    """'ACTIVE_NOT_RECRUITING' -> 'Running, not recruiting'."""
    return STATUS_WORDS.get(code or "", _fallback(code))


def filter_words(statuses: Iterable[str], countries: Iterable[str]) -> list[str]:
    """A digest's status and country filters in plain words: ['status now Recruiting', 'a site in France']."""
    statuses, countries = list(statuses), list(countries)
    words = [f"status now {', '.join(status_words(c) for c in statuses)}"] if statuses else []
    return words + ([f"a site in {', '.join(countries)}"] if countries else [])


def recruitment_group(code: str | None) -> str:
    """The patient-facing recruitment group of an overall status."""
    return _GROUP_OF_STATUS.get(code or "", "Status not known")


def phase_words(codes: Iterable[str] | str | None) -> str:
    """['PHASE1', 'PHASE2'] -> 'Phase 1 / Phase 2'; nothing -> 'Not given'."""
    if isinstance(codes, str):
        codes = [codes]
    words = [PHASE_WORDS.get(code, _fallback(code)) for code in codes or []]
    return " / ".join(words) if words else "Not given"


def study_type_words(code: str | None) -> str:
    """'INTERVENTIONAL' -> 'Tests a treatment'."""
    return STUDY_TYPE_WORDS.get(code or "", _fallback(code))


def sex_words(code: str | None) -> str:
    """'ALL' -> 'All sexes'."""
    return SEX_WORDS.get(code or "", _fallback(code))


def age_groups(std_ages: Iterable[str] | None, min_years: float | None, max_years: float | None) -> list[str]:
    """Which of child / adult / older adult a study takes: from stdAges, else from its age limits."""
    groups = [_AGE_GROUP_OF_STD[a] for a in std_ages or [] if a in _AGE_GROUP_OF_STD]
    if groups:
        return [g for g in AGE_GROUPS if g in groups]
    low = 0.0 if min_years is None else min_years
    high = float("inf") if max_years is None else max_years
    spans = {"child": (0.0, CHILD_UNDER_YEARS), "adult": (CHILD_UNDER_YEARS, OLDER_ADULT_FROM_YEARS),
             "older adult": (OLDER_ADULT_FROM_YEARS, float("inf"))}  # fmt: skip
    return [g for g in AGE_GROUPS if low < spans[g][1] and high >= spans[g][0]]


def ages_words(min_age: str | None, max_age: str | None) -> str:
    """'18 Years', None -> '18 years and older'."""
    low, high = (min_age or "").lower(), (max_age or "").lower()
    if low in ("", "n/a") and high in ("", "n/a"):
        return "Any age"
    if high in ("", "n/a"):
        return f"{low} and older"
    if low in ("", "n/a"):
        return f"Up to {high}"
    return f"{low} to {high}"


def study_url(nct_id: str) -> str:
    """The official ClinicalTrials.gov page of a study."""
    return CTGOV_STUDY_URL.format(nct_id=nct_id)


def results_url(nct_id: str) -> str:
    """The posted results of a study on ClinicalTrials.gov."""
    return CTGOV_RESULTS_URL.format(nct_id=nct_id)


def history_url(nct_id: str) -> str:
    """The official record history (every posted version) of a study."""
    return CTGOV_HISTORY_URL.format(nct_id=nct_id)


# Change events (table change_events, written by trialfinder/events.py from trialfinder/diff.py).
# Encoding, per kind (field_path is dotted API names; a list element is named by its identity in brackets, e.g.
# "protocolSection.contactsLocationsModule.locations[NIH Clinical Center, Bethesda, United States]"):
#   new_study            new = overall status code            removed       new = the reason it is gone
#   reappeared           -                                    results_posted new = results first posted date
#   status_changed       old/new = overall status codes
#   site_added           new = "Facility, City, Country"      site_removed  old = "Facility, City, Country"
#   site_status_changed  old/new = "Facility, City, Country: STATUS_CODE" (empty code = none given)
#   contact_changed      old/new = "Name, phone, email; ..." (field_path ends in centralContacts, overallOfficials or
#                        locations[site].contacts)
#   dates_changed        old/new = "2024-05 (estimated)"      enrollment_changed old/new = "40 (estimated)"
#   phase_changed        old/new = "Phase 1 / Phase 2"        title_changed old/new = the titles
#   eligibility_changed  old/new = display text (ages, "All sexes", "Yes"/"No", the criteria text)
#   other_changed        new = the changed field paths, one a line
EVENT_GROUPS = (
    ("New studies and recruitment", ("new_study", "status_changed", "results_posted", "reappeared", "removed")),
    ("Sites", ("site_added", "site_removed", "site_status_changed", "contact_changed")),
    ("Dates and other details", ("dates_changed", "enrollment_changed", "phase_changed", "eligibility_changed",
                                 "title_changed", "other_changed")),
)  # fmt: skip
EVENT_KINDS = tuple(kind for _, kinds in EVENT_GROUPS for kind in kinds)
_GROUP_OF_KIND = {kind: title for title, kinds in EVENT_GROUPS for kind in kinds}

_STATUS_NEWS = {
    "RECRUITING": "Now recruiting",
    "ACTIVE_NOT_RECRUITING": "Recruitment closed",
    "ENROLLING_BY_INVITATION": "Now enrolling by invitation only",
    "NOT_YET_RECRUITING": "Not yet recruiting",
    "WITHDRAWN": "Withdrawn (stopped before enrolling anyone)",
    "TERMINATED": "Terminated (stopped early)",
    "COMPLETED": "Completed",
    "SUSPENDED": "Suspended (paused)",
}

_FIELD_WORDS = {
    "startDateStruct": "Start date",
    "primaryCompletionDateStruct": "Primary completion date",
    "completionDateStruct": "Completion date",
    "minimumAge": "Minimum age",
    "maximumAge": "Maximum age",
    "sex": "Sex",
    "stdAges": "Age groups",
    "eligibilityCriteria": "Eligibility criteria",
    "healthyVolunteers": "Healthy volunteers",
    "briefTitle": "Title",
    "officialTitle": "Official title",
    "centralContacts": "Contacts",
    "overallOfficials": "Responsible investigators",
    "contacts": "Site contacts",
    "whyStopped": "Reason stopped",
    "briefSummary": "Summary",
    "lastUpdatePostDateStruct": "Last update posted",
    "lastUpdateSubmitDate": "Last update submitted",
    "statusVerifiedDate": "Status verified date",
    "resultsSection": "Results",
    "derivedSection": "Index terms",
}
_STD_AGE_WORDS = {"CHILD": "Child", "ADULT": "Adult", "OLDER_ADULT": "Older adult"}


def event_group(kind: str) -> str:
    """The digest group (EVENT_GROUPS title) of an event kind; unknown kinds go with the other details."""
    return _GROUP_OF_KIND.get(kind, EVENT_GROUPS[-1][0])


def std_ages_words(codes: Iterable[str] | None) -> str:
    """['CHILD', 'ADULT'] -> 'Child, Adult'."""
    return ", ".join(_STD_AGE_WORDS.get(code, _fallback(code)) for code in codes or []) or "Not given"


def split_field_path(field_path: str) -> list[str]:
    """'a.b[x.y].c' -> ['a', 'b[x.y]', 'c']: dots inside a bracketed identity do not split."""
    parts: list[str] = []
    current, depth = "", 0
    for char in field_path:
        if char == "." and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += (char == "[") - (char == "]" and depth > 0)
        current += char
    parts.append(current)
    return parts


def _humanize(name: str) -> str:
    """'detailedDescription' -> 'Detailed description'; 'outcomeMeasuresModule' -> 'Outcome measures'."""
    name = re.sub(r"(Module|Struct)$", "", name)
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).replace("_", " ").strip()
    return words[:1].upper() + words[1:].lower() if words else "Details"


def field_words(field_path: str | None) -> str:
    """'protocolSection.statusModule.startDateStruct' -> 'Start date'; an element identity is kept in brackets:
    '...interventions[DRUG: Plerixafor].description' -> 'Description (DRUG: Plerixafor)'."""
    if not field_path:
        return "Details"
    parts = split_field_path(field_path)
    names = [part.split("[", 1)[0] for part in parts]
    labels = [part.split("[", 1)[1][:-1] for part in parts if "[" in part and part.endswith("]")]
    if names[-1] in _FIELD_WORDS:
        word = _FIELD_WORDS[names[-1]]
    elif names[0] in _FIELD_WORDS and len(names) > 1:  # a results or index-terms module
        word = f"{_FIELD_WORDS[names[0]]} ({_humanize(names[-1]).lower()})"
    else:
        word = _humanize(names[-1])
    return f"{word} ({labels[-1]})" if labels else word


def field_identity(field_path: str | None) -> str | None:
    """The bracketed identity of the last list element in a field path (e.g. a site's label), or None."""
    if not field_path:
        return None
    for part in reversed(split_field_path(field_path)):
        if "[" in part and part.endswith("]"):
            return part.split("[", 1)[1][:-1]
    return None


def baseline_words(count: int) -> str:
    """The one line a first import gets instead of one "New study listed" per study."""
    studies = f"{count} stud{'y' if count == 1 else 'ies'}"
    return f"First import: {studies} already listed on ClinicalTrials.gov when we started following these searches"


def baseline_study_words(status: str | None) -> str:
    """A study page's line for a study that came with a first import (not a new study)."""
    now = f" ({status_words(status).lower()})" if status else ""
    return f"In our first import: already listed when we started following it{now}"


def describe_event(kind: str, field_path: str | None, old: str | None, new: str | None) -> str:
    """One plain-language sentence for a change event (see the encoding above); never raises."""
    if kind == "new_study":
        return f"New study listed ({status_words(new).lower()})" if new else "New study listed"
    if kind == "removed":
        return f"No longer listed ({new})" if new else "No longer listed"
    if kind == "reappeared":
        return "Listed again"
    if kind == "status_changed":
        news = _STATUS_NEWS.get(new or "")
        return f"{news} (was: {status_words(old).lower()})" if news else (
            f"Status: {status_words(old).lower()} → {status_words(new).lower()}")
    if kind == "results_posted":
        return f"Results posted ({new})" if new else "Results posted"
    if kind == "site_added":
        return f"New site: {new}"
    if kind == "site_removed":
        return f"Site removed: {old}"
    if kind == "site_status_changed":
        site, _, status = (new or "").rpartition(": ")
        before = status_words((old or "").rpartition(": ")[2] or None).lower()
        return f"Site {site or field_identity(field_path) or ''}: {before} → {status_words(status or None).lower()}"
    if kind == "enrollment_changed":
        return f"Number of participants: {old or 'not given'} → {new or 'not given'}"
    if kind == "phase_changed":
        return f"Phase: {old or 'not given'} → {new or 'not given'}"
    if kind == "dates_changed":
        return f"{field_words(field_path)}: {old or 'not given'} → {new or 'not given'}"
    if kind == "eligibility_changed":
        if field_path and field_path.endswith("eligibilityCriteria"):
            return "Eligibility criteria text changed"
        return f"Who can join ({field_words(field_path).lower()}): {old or 'not given'} → {new or 'not given'}"
    if kind == "title_changed":
        return f"{field_words(field_path)} changed to: {new or 'none'}"
    if kind == "contact_changed":
        where = field_identity(field_path)
        if where:
            return f"Contact details changed at {where}"
        return f"{field_words(field_path)} changed" if field_path else "Contact details changed"
    if kind == "other_changed":
        fields = list(dict.fromkeys(field_words(path) for path in (new or "").splitlines() if path))
        return f"Other details changed: {', '.join(fields)}" if fields else "Other details changed"
    return f"{_humanize(kind)}: {old or ''} → {new or ''}".strip()

SHORT_TITLE_CHARS = 90  # digest and feed titles are cut near here


def short_title(brief_title: str | None, nct_id: str) -> str:
    """The brief title, cut at a word near SHORT_TITLE_CHARS; the NCT id when there is none."""
    title = display_title(brief_title, nct_id)
    if len(title) <= SHORT_TITLE_CHARS:
        return title
    cut = title[: SHORT_TITLE_CHARS - 1].rsplit(" ", 1)[0]
    return cut.rstrip(",;:-") + "…"


READING_WPM = 200  # a plain reading speed; record text is slower going, so the note says "about"
LONG_TEXT_WORDS = 120


def reading_note(text: str | None) -> str:
    """'' for short text; else 'technical text, about 3 minutes to read' (from its word count)."""
    words = len((text or "").split())
    if words < LONG_TEXT_WORDS:
        return ""
    minutes = max(1, round(words / READING_WPM))
    return f"technical text, about {minutes} minute{'s' if minutes != 1 else ''} to read"
