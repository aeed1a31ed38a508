"""The parent's world (issue 13): a few synthetic records, written by us, that make the patient site's main
question hard: "is there a trial my 5-year-old can join, near us in France?".

- PARIS_NO_GEO: a recruiting WHIM study for children whose Paris site is open but has no coordinates (and whose
  Lyon site is withdrawn);
- WITHDRAWN_FR: a recruiting study of a related condition whose only French site is withdrawn;
- TWELVE_UP: a recruiting WHIM study in France from 12 years;
- ELIGIBILITY_ONLY: a study that names WHIM only in who can join; not yet recruiting at the first import, then
  recruiting (the "real change" after the first import);
- IMAGING: a CXCR4 imaging study (cancer), recruiting in Paris;
- STOPPED: a terminated WHIM study whose French site still says "recruiting".

`build_patient_world` serves only these through the project's fake API, syncs (the first import), makes the change
and syncs again. PARENT_ANSWER is what a parent choosing recruiting, children, France and age 5 must get.
"""

from __future__ import annotations

from typing import Any

from tests.conftest import Project

PARIS_NO_GEO, WITHDRAWN_FR, TWELVE_UP = "NCT09991001", "NCT09991002", "NCT09991003"
ELIGIBILITY_ONLY, IMAGING, STOPPED = "NCT09991004", "NCT09991005", "NCT09991006"
PARENT_ANSWER = [ELIGIBILITY_ONLY, PARIS_NO_GEO]  # in the list's order (tier, then last update)
PARIS = {"lat": 48.85, "lon": 2.35}


def site(facility: str, city: str, country: str, status: str, geo: dict[str, float] | None = None,
         **extra: Any) -> dict[str, Any]:  # fmt: skip
    """One location of a record."""
    place: dict[str, Any] = {"facility": facility, "city": city, "country": country, "status": status, **extra}
    if geo is not None:
        place["geoPoint"] = geo
    return place


def record(nct_id: str, title: str, status: str, *, conditions: list[str], drug: str, min_age: str | None,
           max_age: str | None, criteria: str, sites: list[dict[str, Any]],
           updated: str) -> dict[str, Any]:  # fmt: skip
    """A synthetic study in the API's record shape."""
    eligibility: dict[str, Any] = {"eligibilityCriteria": criteria, "sex": "ALL", "healthyVolunteers": False}
    if min_age:
        eligibility["minimumAge"] = min_age
    if max_age:
        eligibility["maximumAge"] = max_age
    return {
        "protocolSection": {
            "identificationModule": {"nctId": nct_id, "briefTitle": title,
                                     "organization": {"fullName": "Synthetic Sponsor", "class": "OTHER"}},
            "statusModule": {
                "statusVerifiedDate": updated[:7], "overallStatus": status,
                "startDateStruct": {"date": "2026-01", "type": "ACTUAL"},
                "primaryCompletionDateStruct": {"date": "2028-06", "type": "ESTIMATED"},
                "completionDateStruct": {"date": "2029-06", "type": "ESTIMATED"},
                "studyFirstPostDateStruct": {"date": "2025-11-02", "type": "ACTUAL"},
                "lastUpdatePostDateStruct": {"date": updated, "type": "ACTUAL"},
            },
            "sponsorCollaboratorsModule": {"leadSponsor": {"name": "Synthetic Sponsor", "class": "OTHER"}},
            "descriptionModule": {"briefSummary": f"Synthetic record for the trialfinder tests: {title}."},
            "conditionsModule": {"conditions": conditions},
            "designModule": {"studyType": "INTERVENTIONAL", "phases": ["PHASE2"],
                             "enrollmentInfo": {"count": 20, "type": "ESTIMATED"}},
            "armsInterventionsModule": {"interventions": [{"type": "DRUG", "name": drug}]},
            "eligibilityModule": eligibility,
            "contactsLocationsModule": {"locations": sites},
        },
        "hasResults": False,
    }  # fmt: skip


def patient_studies() -> list[dict[str, Any]]:
    """The six records, as the first import finds them."""
    kids = "Inclusion Criteria:\n\n* Children with a confirmed diagnosis"
    return [
        record(PARIS_NO_GEO, "Mavorixafor in Children With WHIM Syndrome (Synthetic)", "RECRUITING",
               conditions=["WHIM Syndrome"], drug="Mavorixafor", min_age="1 Year", max_age="17 Years",
               criteria=kids, updated="2026-11-10",
               sites=[site("Hôpital Necker-Enfants Malades", "Paris", "France", "RECRUITING"),
                      site("Hôpital Femme Mère Enfant", "Lyon", "France", "WITHDRAWN", {"lat": 45.75, "lon": 4.85}),
                      site("Children's Hospital", "Boston", "United States", "RECRUITING",
                           {"lat": 42.36, "lon": -71.06})]),
        record(WITHDRAWN_FR, "G-CSF Dosing in Children With Chronic Neutropenia (Synthetic)", "RECRUITING",
               conditions=["Chronic Neutropenia"], drug="Filgrastim", min_age="2 Years", max_age="17 Years",
               criteria=kids + " of chronic neutropenia without a CXCR4 variant", updated="2026-11-09",
               sites=[site("Centre Hospitalier", "Marseille", "France", "WITHDRAWN", {"lat": 43.3, "lon": 5.37}),
                      site("University Hospital", "Madrid", "Spain", "RECRUITING", {"lat": 40.42, "lon": -3.7})]),
        record(TWELVE_UP, "Mavorixafor in Adolescents and Adults With WHIM Syndrome (Synthetic)", "RECRUITING",
               conditions=["WHIM Syndrome"], drug="Mavorixafor", min_age="12 Years", max_age=None,
               criteria="Inclusion Criteria:\n\n* 12 years and older", updated="2026-11-08",
               sites=[site("Hôpital Saint-Louis", "Paris", "France", "RECRUITING", PARIS)]),
        record(ELIGIBILITY_ONLY, "Natural History of Inherited Neutrophil Disorders (Synthetic)",
               "NOT_YET_RECRUITING", conditions=["Primary Immunodeficiency"], drug="Blood sampling",
               min_age=None, max_age="17 Years", updated="2026-11-07",
               criteria="Inclusion Criteria:\n\n* Confirmed WHIM syndrome or another inherited neutrophil disorder",
               sites=[site("Hôpital Robert-Debré", "Paris", "France", "NOT_YET_RECRUITING", PARIS)]),
        record(IMAGING, "CXCR4 PET Imaging With a Synthetic Tracer in Lymphoma", "RECRUITING",
               conditions=["Lymphoma"], drug="Synthetic CXCR4 tracer", min_age="18 Years", max_age=None,
               criteria="Inclusion Criteria:\n\n* Adults with lymphoma", updated="2026-11-06",
               sites=[site("Institut Curie", "Paris", "France", "RECRUITING", PARIS)]),
        record(STOPPED, "Plerixafor in Children With WHIM Syndrome (Synthetic, Terminated)", "TERMINATED",
               conditions=["WHIM Syndrome"], drug="Plerixafor", min_age="2 Years", max_age="17 Years",
               criteria=kids, updated="2026-11-05",
               sites=[site("Hôpital Necker-Enfants Malades", "Paris", "France", "RECRUITING", PARIS,
                           contacts=[{"name": "Study Nurse", "phone": "01 44 49 40 00", "phoneExt": "+33"}])]),
    ]  # fmt: skip


def now_recruiting(study: dict[str, Any]) -> None:
    """The real change after the first import: the study and its Paris site open."""
    protocol = study["protocolSection"]
    protocol["statusModule"]["overallStatus"] = "RECRUITING"
    protocol["statusModule"]["lastUpdatePostDateStruct"] = {"date": "2026-11-20", "type": "ACTUAL"}
    protocol["contactsLocationsModule"]["locations"][0]["status"] = "RECRUITING"


def build_patient_world(project: Project) -> None:
    """Serve only the parent's records, sync (the first import), open ELIGIBILITY_ONLY, sync again."""
    for nct_id in project.api.nct_ids:
        project.api.remove(nct_id)
    project.api.put_many(patient_studies())
    project.cli("sync")
    project.api.update(ELIGIBILITY_ONLY, now_recruiting)
    project.cli("sync")
