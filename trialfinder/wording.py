"""Plain words for ClinicalTrials.gov codes, shared by the site, digests, feeds, emails and exports.

Unknown codes (the API may add enum values) fall back to the code itself in sentence case, never an error.
"""

from __future__ import annotations

from collections.abc import Iterable

CTGOV_STUDY_URL = "https://clinicaltrials.gov/study/{nct_id}"
CTGOV_HISTORY_URL = "https://clinicaltrials.gov/study/{nct_id}?tab=history"

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
    "Running, not recruiting",
    "Finished",
    "Stopped early / withdrawn",
    "Status not known",
)
_GROUP_OF_STATUS = {
    "RECRUITING": "Recruiting now",
    "AVAILABLE": "Recruiting now",
    "NOT_YET_RECRUITING": "Starting soon",
    "ENROLLING_BY_INVITATION": "Running, not recruiting",
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


def status_words(code: str | None) -> str:
    """'ACTIVE_NOT_RECRUITING' -> 'Running, not recruiting'."""
    return STATUS_WORDS.get(code or "", _fallback(code))


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


def history_url(nct_id: str) -> str:
    """The official record history (every posted version) of a study."""
    return CTGOV_HISTORY_URL.format(nct_id=nct_id)
