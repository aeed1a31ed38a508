"""Pure rules of the patient site: which sites are open, dialable contacts and relevance tiers."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from trialfinder.config_sections import RelevanceConfig
from trialfinder.site.relevance import study_relevance
from trialfinder.site.sites import contact_view, site_state, where_words


@pytest.mark.parametrize(
    ("site", "study", "state"),
    [
        ("RECRUITING", "RECRUITING", "open"), (None, "RECRUITING", "open"), ("WITHDRAWN", "RECRUITING", "withdrawn"),
        ("NOT_YET_RECRUITING", "RECRUITING", "soon"), ("ENROLLING_BY_INVITATION", "ENROLLING_BY_INVITATION", "open"),
        ("RECRUITING", "TERMINATED", "closed"), ("RECRUITING", "NOT_YET_RECRUITING", "soon"),
        ("RECRUITING", "SUSPENDED", "paused"), ("WITHDRAWN", "COMPLETED", "withdrawn"),
        (None, "WITHDRAWN", "withdrawn"), ("COMPLETED", "RECRUITING", "closed"), ("RECRUITING", None, "closed"),
    ],
)  # fmt: skip
def test_a_site_is_open_only_when_it_and_its_study_are(site: str | None, study: str | None, state: str) -> None:
    assert site_state(site, study) == state


def test_where_counts_open_sites_only() -> None:
    sites = [{"state": "open", "country": "Spain"}, {"state": "withdrawn", "country": "France"},
             {"state": "closed", "country": "France"}]  # fmt: skip
    assert where_words(sites) == "1 open site: Spain"
    assert where_words(sites[1:]) == "No site open now (1 closed to new patients, 1 withdrawn)"
    assert where_words([]) == "No sites listed yet"


@pytest.mark.parametrize(
    ("phone", "ext", "shown", "tel"),
    [
        ("01 44 49 40 00", "+33", "+33 1 44 49 40 00", "tel:+33144494000"),
        ("01 44 49 40 00", "33", "+33 1 44 49 40 00", "tel:+33144494000"),
        ("301-496-1234", "123", "301-496-1234 ext. 123", "tel:3014961234"),  # a real extension stays one
        ("+44 20 7946 0000", "", "+44 20 7946 0000", "tel:+442079460000"),
        ("call the desk", "+33", "call the desk ext. +33", ""),
    ],
)  # fmt: skip
def test_a_country_code_stored_as_the_extension_is_dialled(phone: str, ext: str, shown: str, tel: str) -> None:
    contact = contact_view({"phone": phone, "phoneExt": ext})
    assert (contact["phone"], contact["tel"]) == (shown, tel)


def study(**fields: object) -> SimpleNamespace:
    base: dict[str, object] = {"conditions": [], "keywords": [], "brief_title": "", "official_title": None,
                               "acronym": None, "eligibility_criteria": None}  # fmt: skip
    return SimpleNamespace(**{**base, **fields})


def test_tiers_from_the_record_and_the_configured_terms() -> None:
    config = RelevanceConfig()
    assert study_relevance(study(eligibility_criteria="* Confirmed WHIM syndrome"), [], [], config).reason == (
        "WHIM syndrome study: WHIM in who can join")
    drug = [{"name": "X4P-001", "other_names": []}]
    assert study_relevance(study(conditions=["Neutropenia"]), drug, [], config).reason == (
        "WHIM syndrome study: tests X4P-001")
    assert study_relevance(study(conditions=["Chronic Neutropenia"]), [], [], config).tier == 2
    other = study_relevance(study(brief_title="A whimsical CXCR4 PET study"), [], ["CXCR4 gene"], config)
    assert (other.tier, other.reason) == (3, "Other CXCR4 research: found by the search CXCR4 gene")  # whole words
    mine = RelevanceConfig(whim_terms=("myelokathexis",), related_terms=("lymphoma",), other_label="Elsewhere")
    assert study_relevance(study(conditions=["WHIM"]), [], [], mine).tier == 3
    assert study_relevance(study(conditions=["Lymphoma"]), [], [], mine).tier == 2


@pytest.mark.parametrize("lat, lon", [(1.7976931348623157e308, 2.35), (48.85, 181.0), (float("nan"), 2.35),
                                      (-90.5, 0.0), (float("inf"), float("-inf"))])  # fmt: skip
def test_coordinates_that_are_no_place_on_earth_count_as_none(lat: float, lon: float) -> None:
    """A record's geoPoint beyond the poles (hypothesis found 1.8e308) would be drawn nowhere and broke the study
    map: such a site is placed at its city's centre, like a site without coordinates."""
    from trialfinder.site.view import _geo
    from trialfinder.site.worldmap import study_map

    odd = SimpleNamespace(lat=lat, lon=lon, city="Paris", country="France")
    assert _geo(odd) == "48.85,2.35,c"
    assert _geo(SimpleNamespace(lat=lat, lon=lon, city=None, country=None)) == ""
    assert _geo(SimpleNamespace(lat=-90.0, lon=180.0, city=None, country=None)) == "-90.00,180.00"
    site = {"geo": _geo(odd), "state": "open", "facility": "Hospital", "place": "Paris, France", "id": "site-1"}
    drawn = study_map([site])
    assert drawn is not None and drawn["placed"] == 1 and drawn["approx"] == 1
