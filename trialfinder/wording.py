"""Plain words for ClinicalTrials.gov codes, shared by the site, digests, feeds, emails and exports.

Unknown codes (the API may add enum values) fall back to the code itself in sentence case, never an error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from trialfinder.field_paths import field_identity, humanize, split_field_path
from trialfinder.i18n import DEFAULT_LANGUAGE as EN
from trialfinder.i18n import N_, NP_, ntr, tr

# Control characters that text from a record may carry (NUL, backspace, ESC and terminal escape sequences, DEL, the
# C1 controls): removed from everything shown or written (pages, feeds, digests, e-mails, CSV/JSON, the terminal),
# never from the stored raw JSON. Tab and newline are kept; a CR goes too (a CRLF becomes LF).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


find_control = _CONTROL.search  # the first control character `printable` removes, or None


def printable(text: str) -> str:
    """`text` without control characters other than tab and newline (the one helper every output uses)."""
    return _CONTROL.sub("", text) if _CONTROL.search(text) else text


CTGOV_STUDY_URL = "https://clinicaltrials.gov/study/{nct_id}"
CTGOV_HISTORY_URL = "https://clinicaltrials.gov/study/{nct_id}?tab=history"
CTGOV_RESULTS_URL = "https://clinicaltrials.gov/study/{nct_id}?tab=results"

STATUS_WORDS = {
    "RECRUITING": N_("Recruiting"),
    "NOT_YET_RECRUITING": N_("Not yet recruiting"),
    "ENROLLING_BY_INVITATION": N_("Enrolling by invitation only"),
    "ACTIVE_NOT_RECRUITING": N_("Running, not recruiting"),
    "SUSPENDED": N_("Suspended (paused)"),
    "TERMINATED": N_("Stopped early"),
    "WITHDRAWN": N_("Withdrawn before it started"),
    "COMPLETED": N_("Completed"),
    "AVAILABLE": N_("Available (expanded access)"),
    "NO_LONGER_AVAILABLE": N_("No longer available"),
    "TEMPORARILY_NOT_AVAILABLE": N_("Temporarily not available"),
    "APPROVED_FOR_MARKETING": N_("Approved for marketing"),
    "WITHHELD": N_("Withheld"),
    "UNKNOWN": N_("Status not verified recently"),
}

# The recruitment groups patients filter by, in the order shown.
RECRUITMENT_GROUPS = (
    N_("Recruiting now"),
    N_("Starting soon"),
    N_("By invitation only"),
    N_("Running, not recruiting"),
    N_("Finished"),
    N_("Stopped early / withdrawn"),
    N_("Status not known"),
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
    "EARLY_PHASE1": N_("Early phase 1"),
    "PHASE1": N_("Phase 1"),
    "PHASE2": N_("Phase 2"),
    "PHASE3": N_("Phase 3"),
    "PHASE4": N_("Phase 4"),
    "NA": N_("Not applicable"),
}

STUDY_TYPE_WORDS = {
    "INTERVENTIONAL": N_("Tests a treatment"),
    "OBSERVATIONAL": N_("Observes patients (no study treatment)"),
    "EXPANDED_ACCESS": N_("Expanded access (treatment outside a trial)"),
}

SEX_WORDS = {"ALL": N_("All sexes"), "FEMALE": N_("Female only"), "MALE": N_("Male only")}

AGE_GROUPS = ("child", "adult", "older adult")
_AGE_GROUP_OF_STD = {"CHILD": "child", "ADULT": "adult", "OLDER_ADULT": "older adult"}
CHILD_UNDER_YEARS, OLDER_ADULT_FROM_YEARS = 18.0, 65.0


def _fallback(code: str | None, lang: str = EN) -> str:
    if not code:
        return tr(lang, "Not given")
    return code.replace("_", " ").capitalize()


def _word(table: dict[str, str], code: str | None, lang: str) -> str:
    """A code's words from one of the tables above, in `lang`; an unknown code as itself."""
    known = table.get(code or "")
    return tr(lang, known) if known is not None else _fallback(code, lang)


def display_title(brief_title: str | None, nct_id: str) -> str:
    """A record's brief title on one line (white space folded), or its NCT id when it has none."""
    return " ".join((brief_title or "").split()) or nct_id


def listing_status(code: str | None, removed: bool, lang: str = EN) -> str:
    """The status a study is shown with: "No longer listed" once removed, else its status in words."""
    return tr(lang, "No longer listed") if removed else status_words(code, lang)


def status_words(code: str | None, lang: str = EN) -> str:
    """'ACTIVE_NOT_RECRUITING' -> 'Running, not recruiting'."""
    return _word(STATUS_WORDS, code, lang)


def filter_words(statuses: Iterable[str], countries: Iterable[str], lang: str = EN) -> list[str]:
    """A digest's status and country filters in plain words: ['status now Recruiting', 'a site in France']."""
    statuses, countries = list(statuses), list(countries)
    words = ([tr(lang, "status now %(statuses)s", statuses=", ".join(status_words(c, lang) for c in statuses))]
             if statuses else [])  # fmt: skip
    return words + ([tr(lang, "a site in %(countries)s", countries=", ".join(countries))] if countries else [])


def recruitment_group(code: str | None) -> str:
    """The patient-facing recruitment group of an overall status (the English key: `group_words` says it)."""
    return _GROUP_OF_STATUS.get(code or "", "Status not known")


def group_words(group: str, lang: str = EN) -> str:
    """A recruitment group (RECRUITMENT_GROUPS) or event group (EVENT_GROUPS) title in `lang`."""
    return tr(lang, group)


def phase_words(codes: Iterable[str] | str | None, lang: str = EN) -> str:
    """['PHASE1', 'PHASE2'] -> 'Phase 1 / Phase 2'; nothing -> 'Not given'."""
    if isinstance(codes, str):
        codes = [codes]
    words = [_word(PHASE_WORDS, code, lang) for code in codes or []]
    return " / ".join(words) if words else tr(lang, "Not given")


def study_type_words(code: str | None, lang: str = EN) -> str:
    """'INTERVENTIONAL' -> 'Tests a treatment'."""
    return _word(STUDY_TYPE_WORDS, code, lang)


def sex_words(code: str | None, lang: str = EN) -> str:
    """'ALL' -> 'All sexes'."""
    return _word(SEX_WORDS, code, lang)


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


_AGE_UNITS = {"year": NP_("%(num)s year", "%(num)s years"), "month": NP_("%(num)s month", "%(num)s months"),
              "week": NP_("%(num)s week", "%(num)s weeks"), "day": NP_("%(num)s day", "%(num)s days"),
              "hour": NP_("%(num)s hour", "%(num)s hours"), "minute": NP_("%(num)s minute", "%(num)s minutes")}
_AGE = re.compile(r"(\d+)\s+(year|month|week|day|hour|minute)s?", re.I)


def age_words(age: str, lang: str = EN) -> str:
    """A record's age limit ('18 Years') in `lang` ('18 ans'); English (and anything else) lower-cased as given."""
    match = _AGE.fullmatch(age.strip())
    if lang == EN or match is None:
        return age.lower()
    one, many = _AGE_UNITS[match.group(2).lower()]
    return ntr(lang, one, many, int(match.group(1)))


def ages_words(min_age: str | None, max_age: str | None, lang: str = EN) -> str:
    """'18 Years', None -> '18 years and older'."""
    low, high = (min_age or "").lower(), (max_age or "").lower()
    if low in ("", "n/a") and high in ("", "n/a"):
        return tr(lang, "Any age")
    if high in ("", "n/a"):
        return tr(lang, "%(low)s and older", low=age_words(low, lang))
    if low in ("", "n/a"):
        return tr(lang, "Up to %(high)s", high=age_words(high, lang))
    return tr(lang, "%(low)s to %(high)s", low=age_words(low, lang), high=age_words(high, lang))


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
    (N_("New studies and recruitment"), ("new_study", "status_changed", "results_posted", "reappeared", "removed")),
    (N_("Sites"), ("site_added", "site_removed", "site_status_changed", "contact_changed")),
    (N_("Dates and other details"), ("dates_changed", "enrollment_changed", "phase_changed", "eligibility_changed",
                                 "title_changed", "other_changed")),
)  # fmt: skip
EVENT_KINDS = tuple(kind for _, kinds in EVENT_GROUPS for kind in kinds)
_GROUP_OF_KIND = {kind: title for title, kinds in EVENT_GROUPS for kind in kinds}

_STATUS_NEWS = {
    "RECRUITING": N_("Now recruiting"),
    "ACTIVE_NOT_RECRUITING": N_("Recruitment closed"),
    "ENROLLING_BY_INVITATION": N_("Now enrolling by invitation only"),
    "NOT_YET_RECRUITING": N_("Not yet recruiting"),
    "WITHDRAWN": N_("Withdrawn (stopped before enrolling anyone)"),
    "TERMINATED": N_("Terminated (stopped early)"),
    "COMPLETED": N_("Completed"),
    "SUSPENDED": N_("Suspended (paused)"),
}

_FIELD_WORDS = {
    "startDateStruct": N_("Start date"),
    "primaryCompletionDateStruct": N_("Primary completion date"),
    "completionDateStruct": N_("Completion date"),
    "minimumAge": N_("Minimum age"),
    "maximumAge": N_("Maximum age"),
    "sex": N_("Sex"),
    "stdAges": N_("Age groups"),
    "eligibilityCriteria": N_("Eligibility criteria"),
    "healthyVolunteers": N_("Healthy volunteers"),
    "briefTitle": N_("Title"),
    "officialTitle": N_("Official title"),
    "centralContacts": N_("Contacts"),
    "overallOfficials": N_("Responsible investigators"),
    "contacts": N_("Site contacts"),
    "whyStopped": N_("Reason stopped"),
    "briefSummary": N_("Summary"),
    "lastUpdatePostDateStruct": N_("Last update posted"),
    "lastUpdateSubmitDate": N_("Last update submitted"),
    "statusVerifiedDate": N_("Status verified date"),
    "resultsSection": N_("Results"),
    "derivedSection": N_("Index terms"),
}
_STD_AGE_WORDS = {"CHILD": N_("Child"), "ADULT": N_("Adult"), "OLDER_ADULT": N_("Older adult")}


def event_group(kind: str) -> str:  # the English title: `group_words` says it in a language
    """The digest group (EVENT_GROUPS title) of an event kind; unknown kinds go with the other details."""
    return _GROUP_OF_KIND.get(kind, EVENT_GROUPS[-1][0])


def std_ages_words(codes: Iterable[str] | None, lang: str = EN) -> str:
    """['CHILD', 'ADULT'] -> 'Child, Adult'."""
    return ", ".join(_word(_STD_AGE_WORDS, code, lang) for code in codes or []) or tr(lang, "Not given")


def field_words(field_path: str | None, lang: str = EN) -> str:
    """'protocolSection.statusModule.startDateStruct' -> 'Start date'; an element identity is kept in brackets:
    '...interventions[DRUG: Plerixafor].description' -> 'Description (DRUG: Plerixafor)'."""
    if not field_path:
        return tr(lang, "Details")
    parts = split_field_path(field_path)
    names = [part.split("[", 1)[0] for part in parts]
    labels = [part.split("[", 1)[1][:-1] for part in parts if "[" in part and part.endswith("]")]
    if names[-1] in _FIELD_WORDS:
        word = tr(lang, _FIELD_WORDS[names[-1]])
    elif names[0] in _FIELD_WORDS and len(names) > 1:  # a results or index-terms module
        word = f"{tr(lang, _FIELD_WORDS[names[0]])} ({humanize(names[-1]).lower()})"
    else:
        word = humanize(names[-1])
    return f"{word} ({labels[-1]})" if labels else word


def baseline_words(count: int, lang: str = EN) -> str:
    """The one line a first import gets instead of one "New study listed" per study."""
    return ntr(lang, "First import: %(num)s study already listed on ClinicalTrials.gov when we started "
                    "following these searches", "First import: %(num)s studies already listed on ClinicalTrials.gov "
                    "when we started following these searches", count)  # fmt: skip


def baseline_study_words(status: str | None, lang: str = EN) -> str:
    """A study page's line for a study that came with a first import (not a new study)."""
    if status:
        return tr(lang, "In our first import: already listed when we started following it (%(status)s)",
                       status=status_words(status, lang).lower())
    return tr(lang, "In our first import: already listed when we started following it")


def describe_event(kind: str, field_path: str | None, old: str | None, new: str | None, lang: str = EN) -> str:
    """One plain-language sentence for a change event (see the encoding above), in `lang`; never raises."""
    def _(message: str, **values: str) -> str:
        return tr(lang, message, **values)

    def status(code: str | None) -> str:
        return status_words(code, lang).lower()

    given = _("not given")
    if kind == "new_study":
        return _("New study listed (%(status)s)", status=status(new)) if new else _("New study listed")
    if kind == "removed":
        return _("No longer listed (%(reason)s)", reason=new) if new else _("No longer listed")
    if kind == "reappeared":
        return _("Listed again")
    if kind == "status_changed":
        news = _STATUS_NEWS.get(new or "")
        if news:
            return _("%(news)s (was: %(old)s)", news=_(news), old=status(old))
        return _("Status: %(old)s → %(new)s", old=status(old), new=status(new))
    if kind == "results_posted":
        return _("Results posted (%(date)s)", date=new) if new else _("Results posted")
    if kind == "site_added":
        return _("New site: %(site)s", site=new or "")
    if kind == "site_removed":
        return _("Site removed: %(site)s", site=old or "")
    if kind == "site_status_changed":
        site, _sep, after = (new or "").rpartition(": ")
        before = status((old or "").rpartition(": ")[2] or None)
        return _("Site %(site)s: %(old)s → %(new)s", site=site or field_identity(field_path) or "", old=before,
                 new=status(after or None))  # fmt: skip
    if kind == "enrollment_changed":
        return _("Number of participants: %(old)s → %(new)s", old=old or given, new=new or given)
    if kind == "phase_changed":
        return _("Phase: %(old)s → %(new)s", old=old or given, new=new or given)
    if kind == "dates_changed":
        return f"{field_words(field_path, lang)}: {old or given} → {new or given}"
    if kind == "eligibility_changed":
        if field_path and field_path.endswith("eligibilityCriteria"):
            return _("Eligibility criteria text changed")
        return _("Who can join (%(field)s): %(old)s → %(new)s", field=field_words(field_path, lang).lower(),
                 old=old or given, new=new or given)  # fmt: skip
    if kind == "title_changed":
        return _("%(field)s changed to: %(title)s", field=field_words(field_path, lang), title=new or _("none"))
    if kind == "contact_changed":
        where = field_identity(field_path)
        if where:
            return _("Contact details changed at %(site)s", site=where)
        if field_path:
            return _("%(field)s changed", field=field_words(field_path, lang))
        return _("Contact details changed")
    if kind == "other_changed":
        fields = list(dict.fromkeys(field_words(path, lang) for path in (new or "").splitlines() if path))
        return _("Other details changed: %(fields)s", fields=", ".join(fields)) if fields else (
            _("Other details changed"))
    return f"{humanize(kind)}: {old or ''} → {new or ''}".strip()

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


def reading_note(text: str | None, lang: str = EN) -> str:
    """'' for short text; else 'technical text, about 3 minutes to read' (from its word count)."""
    words = len((text or "").split())
    if words < LONG_TEXT_WORDS:
        return ""
    minutes = max(1, round(words / READING_WPM))
    return ntr(lang, "technical text, about %(num)s minute to read",
                    "technical text, about %(num)s minutes to read", minutes)
