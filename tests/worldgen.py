"""Deterministic synthetic ClinicalTrials.gov v2 studies for big fake worlds (benchmarks).

``make_study(i)`` builds study number ``i`` (nctId ``NCT9xxxxxxx``, never a real id) in the real
v2 record shape, 4-8 KB of compact JSON. Studies rotate over the three default searches:

- ``i % 3 == 0``: condition "WHIM Syndrome"  (matches the default query.cond)
- ``i % 3 == 1``: intervention "Mavorixafor" (matches the default query.intr)
- ``i % 3 == 2``: keyword "CXCR4"            (matches the default query.term)

and no study matches more than its own search. Every lastUpdatePostDate lies in the year ending
at ``seed_date`` (inclusive), so an incremental search from the day after ``seed_date`` finds nothing
until studies are updated. ``load_fixture_studies()`` returns the hand-written fixture studies.
"""

from __future__ import annotations

import functools
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import trialfinder.standin

FIXTURE = Path(trialfinder.standin.__file__).parent / "whim_world.json"  # our synthetic world, shipped for the demo

_STATUSES = ("RECRUITING", "COMPLETED", "ACTIVE_NOT_RECRUITING", "NOT_YET_RECRUITING", "RECRUITING",
             "COMPLETED", "TERMINATED", "ENROLLING_BY_INVITATION", "WITHDRAWN", "SUSPENDED", "UNKNOWN")
_LOC_STATUS = {"RECRUITING": ("RECRUITING", "RECRUITING", "NOT_YET_RECRUITING"),
               "NOT_YET_RECRUITING": ("NOT_YET_RECRUITING",),
               "ENROLLING_BY_INVITATION": ("ENROLLING_BY_INVITATION",)}
_PHASES = (["PHASE1"], ["PHASE2"], ["PHASE3"], ["PHASE1", "PHASE2"], ["PHASE2", "PHASE3"], ["EARLY_PHASE1"], ["NA"])
_OTHER_CONDITIONS = ("Chronic Neutropenia", "Severe Congenital Neutropenia", "Cyclic Neutropenia",
                     "Autoimmune Neutropenia", "Idiopathic Neutropenia", "Common Variable Immunodeficiency",
                     "Recurrent Respiratory Infections", "Cutaneous Warts", "Lymphopenia")
_OTHER_DRUGS: tuple[tuple[str, list[str]], ...] = (("Filgrastim", ["G-CSF"]), ("Pegfilgrastim", ["PEG-G-CSF"]),
                ("Immune globulin", ["IVIG", "SCIG"]), ("Azithromycin", []), ("Sargramostim", ["GM-CSF"]))
_KEYWORDS = ("neutrophil count", "rare disease", "primary immunodeficiency", "infection rate",
             "bone marrow", "leukocytes", "chemokine receptor", "open-label extension")
_AGES = (("6 Months", "17 Years", ["CHILD"]), ("12 Years", None, ["CHILD", "ADULT", "OLDER_ADULT"]),
         ("18 Years", None, ["ADULT", "OLDER_ADULT"]), ("18 Years", "65 Years", ["ADULT", "OLDER_ADULT"]),
         ("2 Years", "75 Years", ["CHILD", "ADULT", "OLDER_ADULT"]))
_SITES = (("Seattle", "Washington", "98195", "United States", 47.60621, -122.33207),
          ("Houston", "Texas", "77030", "United States", 29.76328, -95.36327),
          ("Bethesda", "Maryland", "20892", "United States", 38.98067, -77.10026),
          ("Boston", "Massachusetts", "02115", "United States", 42.35843, -71.05977),
          ("Toronto", "Ontario", "M5G 1X8", "Canada", 43.70643, -79.39864),
          ("Paris", None, "75015", "France", 48.85341, 2.3488),
          ("Brescia", None, "25123", "Italy", 45.53558, 10.21472),
          ("Hannover", None, "30625", "Germany", 52.37052, 9.73322),
          ("Madrid", None, "28046", "Spain", 40.4165, -3.70256),
          ("Melbourne", "Victoria", "3052", "Australia", -37.814, 144.96332),
          ("Tokyo", None, "104-0045", "Japan", 35.6895, 139.69171),
          ("São Paulo", "SP", "05403-000", "Brazil", -23.5475, -46.63611))
# Sentence pool for descriptions; deliberately free of the words the default searches look for.
_SENTENCES = tuple(
    f"{subject} {verb} {obj} {tail}."
    for subject in ("The study team", "Each participant", "The sponsor", "An independent committee")
    for verb in ("reviews", "records", "measures", "reports")
    for obj in ("blood counts", "infection events", "adverse events", "quality of life scores")
    for tail in ("at every scheduled visit", "during the treatment period", "in the follow-up phase")
)
_SECONDARY = (("Absolute neutrophil count over time", "Weeks 4 to 52"),
              ("Number of participants with treatment-emergent adverse events", "Up to 56 weeks"),
              ("Change from baseline in quality of life score", "Baseline and week 52"))
_INCLUSION = ("Able to give written informed consent", "Documented low absolute neutrophil count",
              "Willing to use effective contraception", "Stable dose of any background therapy for 4 weeks",
              "Able to swallow capsules", "History of at least two infections in the past year",
              "Adequate kidney and liver function", "Body weight of at least 10 kg")
_EXCLUSION = ("Pregnant or breastfeeding", "Known myelodysplastic syndrome or leukemia",
              "Participation in another interventional study within 30 days",
              "Active uncontrolled infection at screening", "Prior hematopoietic stem cell transplant",
              "Known hypersensitivity to the study drug or excipients", "QTc interval above 470 ms")


def _pick(seq: tuple[Any, ...], i: int, salt: int) -> Any:
    return seq[(i * 7919 + salt * 104729) % len(seq)]


def _text(i: int, salt: int, n: int) -> str:
    k = len(_SENTENCES)
    return " ".join(_SENTENCES[(i * 31 + salt * 17 + j * 13) % k] for j in range(n))


def _bullets(items: tuple[str, ...], i: int, salt: int, n: int) -> str:
    return "\n".join(f"* {items[(i + salt + j * 3) % len(items)]}" for j in range(n))


def make_study(i: int, *, seed_date: str = "2024-01-01") -> dict[str, Any]:
    """Synthetic study number ``i`` (deterministic; same ``i`` and ``seed_date`` give equal dicts)."""
    nct = f"NCT{90000000 + i:08d}"
    kind = i % 3
    base = date.fromisoformat(seed_date)
    last_update = base - timedelta(days=(i * 37) % 365)
    first_post = last_update - timedelta(days=200 + (i * 53) % 2000)
    start = first_post + timedelta(days=(i * 11) % 120)
    overall = _pick(_STATUSES, i, 1)
    conditions = [_pick(_OTHER_CONDITIONS, i, 2)]
    if i % 4 == 0:
        conditions.append(_pick(_OTHER_CONDITIONS, i, 3))
    if kind == 0:
        conditions.insert(0, "WHIM Syndrome")
    conditions = list(dict.fromkeys(conditions))
    keywords = [_pick(_KEYWORDS, i, 4), _pick(_KEYWORDS, i, 5)]
    if kind == 2:
        keywords.append("CXCR4")
    drug, other_names = ("Mavorixafor", ["X4P-001"]) if kind == 1 else _pick(_OTHER_DRUGS, i, 6)
    min_age, max_age, std_ages = _pick(_AGES, i, 7)
    phases = _pick(_PHASES, i, 8)
    enrolled = overall in ("COMPLETED", "TERMINATED", "WITHDRAWN", "ACTIVE_NOT_RECRUITING")
    count = 0 if overall == "WITHDRAWN" else 5 + (i * 13) % 240
    loc_statuses = _LOC_STATUS.get(overall)
    locations = []
    for j in range(1 + i % 5):
        city, state, zip_, country, lat, lon = _SITES[(i + j * 5) % len(_SITES)]
        site: dict[str, Any] = {"facility": f"Synthetic Research Site {(i + j) % 97 + 1}"}
        if loc_statuses:
            site["status"] = loc_statuses[j % len(loc_statuses)]
        site.update({"city": city} | ({"state": state} if state else {}) | {"zip": zip_, "country": country})
        if loc_statuses and j % 2 == 0:
            site["contacts"] = [{"name": f"Site Coordinator {i}-{j}", "role": "CONTACT",
                                 "email": f"site{i}-{j}@example.org"}]
        site["geoPoint"] = {"lat": lat, "lon": lon}
        locations.append(site)
    criteria = (f"Inclusion Criteria:\n\n{_bullets(_INCLUSION, i, 0, 3 + i % 5)}\n\n"
                f"Exclusion Criteria:\n\n{_bullets(_EXCLUSION, i, 1, 2 + i % 5)}")
    status_module: dict[str, Any] = {
        "statusVerifiedDate": last_update.isoformat()[:7],
        "overallStatus": overall,
        "expandedAccessInfo": {"hasExpandedAccess": False},
        "startDateStruct": {"date": start.isoformat()[:7] if i % 2 else start.isoformat(),
                            "type": "ACTUAL" if start <= base else "ESTIMATED"},
        "primaryCompletionDateStruct": {"date": (start + timedelta(days=700)).isoformat()[:7],
                                        "type": "ACTUAL" if enrolled else "ESTIMATED"},
        "completionDateStruct": {"date": (start + timedelta(days=900)).isoformat()[:7],
                                 "type": "ACTUAL" if enrolled else "ESTIMATED"},
        "studyFirstSubmitDate": (first_post - timedelta(days=3)).isoformat(),
        "studyFirstSubmitQcDate": (first_post - timedelta(days=3)).isoformat(),
        "studyFirstPostDateStruct": {"date": first_post.isoformat(), "type": "ACTUAL"},
        "lastUpdateSubmitDate": (last_update - timedelta(days=2)).isoformat(),
        "lastUpdatePostDateStruct": {"date": last_update.isoformat(), "type": "ACTUAL"},
    }
    if overall == "WITHDRAWN":
        status_module["whyStopped"] = "Sponsor decision"
    eligibility: dict[str, Any] = {"eligibilityCriteria": criteria, "healthyVolunteers": i % 10 == 0,
                                   "sex": ("ALL", "ALL", "FEMALE", "ALL", "MALE")[i % 5], "minimumAge": min_age}
    if max_age:
        eligibility["maximumAge"] = max_age
    eligibility["stdAges"] = std_ages
    title_cond = conditions[0]
    sponsor_name = f"Synthetic Sponsor {i % 40 + 1}"
    sponsor_class = ("INDUSTRY", "OTHER", "NIH", "NETWORK")[i % 4]
    return {
        "protocolSection": {
            "identificationModule": {
                "nctId": nct,
                "orgStudyIdInfo": {"id": f"SYN-{i:06d}"},
                "organization": {"fullName": sponsor_name, "class": sponsor_class},
                "briefTitle": f"Synthetic Study {i}: {drug} in {title_cond}",
                "officialTitle": f"A Synthetic {'/'.join(phases)} Study of {drug} in Participants With {title_cond}",
            },
            "statusModule": status_module,
            "sponsorCollaboratorsModule": {"responsibleParty": {"type": "SPONSOR"},
                                           "leadSponsor": {"name": sponsor_name, "class": sponsor_class}},
            "oversightModule": {"oversightHasDmc": i % 2 == 0, "isFdaRegulatedDrug": True,
                                "isFdaRegulatedDevice": False},
            "descriptionModule": {"briefSummary": f"This synthetic study evaluates {drug} in {title_cond}. "
                                  + _text(i, 1, 2 + i % 3),
                                  "detailedDescription": _text(i, 2, 12 + i % 19)},
            "conditionsModule": {"conditions": conditions, "keywords": keywords},
            "designModule": {
                "studyType": "INTERVENTIONAL", "phases": phases,
                "designInfo": {"allocation": "RANDOMIZED" if i % 2 else "NA",
                               "interventionModel": "PARALLEL" if i % 2 else "SINGLE_GROUP",
                               "primaryPurpose": "TREATMENT",
                               "maskingInfo": {"masking": "DOUBLE" if i % 2 else "NONE"}},
                "enrollmentInfo": {"count": count, "type": "ACTUAL" if enrolled else "ESTIMATED"},
            },
            "armsInterventionsModule": {
                "armGroups": [{"label": drug, "type": "EXPERIMENTAL", "description": _text(i, 3, 1),
                               "interventionNames": [f"Drug: {drug}"]}],
                "interventions": [{"type": "DRUG", "name": drug, "description": _text(i, 4, 1),
                                   "armGroupLabels": [drug], "otherNames": other_names}],
            },
            "outcomesModule": {
                "primaryOutcomes": [{"measure": "Annualized infection rate", "description": _text(i, 5, 1),
                                     "timeFrame": "52 weeks"}],
                "secondaryOutcomes": [{"measure": measure, "description": _text(i, 6 + k, 1), "timeFrame": frame}
                                      for k, (measure, frame) in enumerate(_SECONDARY[: 1 + i % 3])],
            },
            "eligibilityModule": eligibility,
            "contactsLocationsModule": {"locations": locations},
        },
        "derivedSection": {
            "miscInfoModule": {"versionHolder": seed_date},
            "conditionBrowseModule": {
                "meshes": [{"id": "D000009503", "term": "Neutropenia"}],
                "browseLeaves": [{"id": "M12444", "name": "Neutropenia", "relevance": "LOW"}],
                "browseBranches": [{"abbrev": "BC15", "name": "Blood and Lymph Conditions"},
                                   {"abbrev": "All", "name": "All Conditions"}],
            },
        },
        "hasResults": False,
    }


@functools.lru_cache(maxsize=1)
def _fixture_text() -> str:
    return FIXTURE.read_text(encoding="utf-8")


def load_fixture_studies() -> list[dict[str, Any]]:
    """The studies of trialfinder/standin/whim_world.json (fresh objects on every call)."""
    studies: list[dict[str, Any]] = json.loads(_fixture_text())["studies"]
    return studies
