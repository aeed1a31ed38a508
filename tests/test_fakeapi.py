"""Tests of the stand-in ClinicalTrials.gov API v2 itself (trialfinder/standin/; tests/fakeapi.py re-exports it)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.fakeapi import FakeCtGov
from tests.worldgen import load_fixture_studies, make_study

COND = 'WHIM syndrome OR Myelokathexis OR WHIMS OR "Warts, Hypogammaglobulinemia, Infections, and Myelokathexis"'
INTR = "mavorixafor OR X4P-001 OR Xolremdi OR AMD11070"
INCREMENTAL = "AREA[LastUpdatePostDate]RANGE[2026-11-19,MAX]"
ALL_FIXTURE_IDS = ["NCT00967785", "NCT03005327", "NCT03547830", "NCT03995108", "NCT04154488",
                   "NCT06056297", "NCT09990001", "NCT09990002"]


@pytest.fixture
def fake() -> Iterator[FakeCtGov]:
    with FakeCtGov(load_fixture_studies()) as server:
        yield server


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def get(http: requests.Session, fake: FakeCtGov, path: str, **params: Any) -> requests.Response:
    return http.get(fake.base_url + path, params=params, timeout=10)


def ids_of(resp: requests.Response) -> list[str]:
    return [s["protocolSection"]["identificationModule"]["nctId"] for s in resp.json()["studies"]]


def last_update(fake: FakeCtGov, nct_id: str) -> str:
    date: str = fake.get(nct_id)["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"]["date"]
    return date


def search_ids(http: requests.Session, fake: FakeCtGov, **params: Any) -> list[str]:
    return ids_of(get(http, fake, "/studies", pageSize=1000, **params))


# ---- /version and routing ---------------------------------------------------------------
def test_version(fake: FakeCtGov, http: requests.Session) -> None:
    resp = get(http, fake, "/version")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.json() == {"apiVersion": "2.0.5", "dataTimestamp": "2026-11-20T09:00:05"}
    fake.data_timestamp = "2026-11-21T09:00:05"
    assert get(http, fake, "/version").json()["dataTimestamp"] == "2026-11-21T09:00:05"


@pytest.mark.parametrize("url_path", ["/api/v1/studies", "/nothing", "/api/v2/stats/size", "/api/v2/studies/metadata"])
def test_other_paths_are_nginx_404(fake: FakeCtGov, http: requests.Session, url_path: str) -> None:
    resp = http.get(fake.base_url.removesuffix("/api/v2") + url_path, timeout=10)
    assert resp.status_code == 404
    assert resp.headers["Content-Type"].startswith("text/html")
    assert "<center>nginx</center>" in resp.text


def test_keep_alive_reuses_connection(fake: FakeCtGov, http: requests.Session) -> None:
    for _ in range(5):
        assert get(http, fake, "/studies").status_code == 200
    assert fake.connections_accepted == 1


# ---- paging --------------------------------------------------------------------------------
def test_paging_total_count_only_on_first_page(fake: FakeCtGov, http: requests.Session) -> None:
    first = get(http, fake, "/studies", pageSize=3, countTotal="true")
    body = first.json()
    assert list(body) == ["studies", "totalCount", "nextPageToken"]
    assert body["totalCount"] == 8
    assert first.text.startswith('{"studies":[{"protocolSection":')  # compact JSON
    seen, token, pages = ids_of(first), body["nextPageToken"], 1
    while token:
        page = get(http, fake, "/studies", pageSize=3, countTotal="true", pageToken=token).json()
        assert "totalCount" not in page
        seen += [s["protocolSection"]["identificationModule"]["nctId"] for s in page["studies"]]
        token, pages = page.get("nextPageToken"), pages + 1
    assert pages == 3
    assert seen == ALL_FIXTURE_IDS == fake.nct_ids


def test_exact_multiple_has_no_empty_page_unless_asked(fake: FakeCtGov, http: requests.Session) -> None:
    first = get(http, fake, "/studies", pageSize=4).json()
    second = get(http, fake, "/studies", pageSize=4, pageToken=first["nextPageToken"]).json()
    assert len(second["studies"]) == 4 and "nextPageToken" not in second
    fake.empty_last_page = True
    second = get(http, fake, "/studies", pageSize=4, pageToken=first["nextPageToken"]).json()
    third = get(http, fake, "/studies", pageSize=4, pageToken=second["nextPageToken"]).json()
    assert third == {"studies": []}


def test_page_size_default_zero_and_cap(http: requests.Session) -> None:
    with FakeCtGov(make_study(i) for i in range(1005)) as big:
        assert len(ids_of(get(http, big, "/studies"))) == 10
        assert len(ids_of(get(http, big, "/studies", pageSize=0))) == 10
        first = get(http, big, "/studies", pageSize=5000)
        assert len(ids_of(first)) == 1000
        rest = get(http, big, "/studies", pageSize=5000, pageToken=first.json()["nextPageToken"]).json()
        assert len(rest["studies"]) == 5 and "nextPageToken" not in rest


@pytest.mark.parametrize("size", ["-1", "abc", "1.5"])
def test_bad_page_size_is_400(fake: FakeCtGov, http: requests.Session, size: str) -> None:
    resp = get(http, fake, "/studies", pageSize=size)
    assert resp.status_code == 400
    assert resp.headers["Content-Type"].startswith("text/plain")


def test_page_token_checks(fake: FakeCtGov, http: requests.Session) -> None:
    token = get(http, fake, "/studies", pageSize=2, **{"query.term": "CXCR4"}).json()["nextPageToken"]
    assert all(c.isalnum() or c in "-_" for c in token)
    # countTotal and pageSize may change between pages ...
    assert get(http, fake, "/studies", pageSize=1, countTotal="true", pageToken=token,
               **{"query.term": "CXCR4"}).status_code == 200
    # ... other parameters may not, and garbage does not decode
    assert get(http, fake, "/studies", pageSize=2, pageToken=token, **{"query.term": "WHIM"}).status_code == 400
    assert get(http, fake, "/studies", pageSize=2, pageToken=token).status_code == 400
    resp = get(http, fake, "/studies", pageToken="abracadabra")
    assert resp.status_code == 400 and resp.headers["Content-Type"].startswith("text/plain")


def test_unknown_parameter_and_format(fake: FakeCtGov, http: requests.Session) -> None:
    resp = get(http, fake, "/studies", **{"query.cond": "cancer", "filter.phase": "PHASE3"})
    assert resp.status_code == 400
    assert resp.headers["Content-Type"].startswith("text/plain")
    assert resp.text == "`filter.phase` is unknown parameter"
    assert get(http, fake, "/studies", format="csv").status_code == 400
    assert get(http, fake, "/studies", format="json", fields="NCTId").status_code == 200
    assert get(http, fake, "/studies/NCT00967785", bogus="1").text == "`bogus` is unknown parameter"


# ---- single study --------------------------------------------------------------------------
def test_single_study(fake: FakeCtGov, http: requests.Session) -> None:
    resp = get(http, fake, "/studies/NCT00967785")
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "application/json"
    assert resp.json() == fake.get("NCT00967785")
    assert get(http, fake, "/studies/nct967785").json() == fake.get("NCT00967785")
    bad = get(http, fake, "/studies/NCT123456789")
    assert bad.status_code == 400 and bad.headers["Content-Type"].startswith("text/plain")
    missing = get(http, fake, "/studies/NCT01234567")
    assert missing.status_code == 404 and missing.headers["Content-Type"].startswith("text/plain")


def test_alias_redirects_and_filter_ids(fake: FakeCtGov, http: requests.Session) -> None:
    fake.add_alias("NCT01111111", "NCT03995108")
    resp = http.get(fake.base_url + "/studies/NCT01111111?format=json", allow_redirects=False, timeout=10)
    assert resp.status_code == 301
    assert resp.headers["Location"] == "/api/v2/studies/NCT03995108?format=json"
    assert get(http, fake, "/studies/NCT01111111").json()["hasResults"] is True  # followed
    assert search_ids(http, fake, **{"filter.ids": "NCT01111111|NCT00967785"}) == ["NCT00967785", "NCT03995108"]
    fake.update("NCT09990002", lambda s: s["protocolSection"]["identificationModule"].update(
        nctIdAliases=["NCT02222222"]))
    assert get(http, fake, "/studies/NCT02222222", format="json").url.endswith("/NCT09990002?format=json")
    assert search_ids(http, fake, **{"filter.ids": "NCT02222222"}) == ["NCT09990002"]
    assert get(http, fake, "/studies", **{"filter.ids": "NCTX"}).status_code == 400


# ---- search --------------------------------------------------------------------------------
def test_default_searches(fake: FakeCtGov, http: requests.Session) -> None:
    assert search_ids(http, fake, **{"query.cond": COND}) == [
        "NCT00967785", "NCT03005327", "NCT03995108", "NCT04154488", "NCT09990002"]
    assert search_ids(http, fake, **{"query.intr": INTR}) == [
        "NCT03005327", "NCT03995108", "NCT04154488", "NCT06056297"]
    assert search_ids(http, fake, **{"query.term": "CXCR4"}) == [
        "NCT00967785", "NCT03005327", "NCT03547830", "NCT03995108", "NCT06056297", "NCT09990001",
        "NCT09990002"]
    assert search_ids(http, fake, **{"query.cond": COND, "query.intr": INTR}) == [
        "NCT03005327", "NCT03995108", "NCT04154488"]
    assert search_ids(http, fake, **{"query.titles": "4whim"}) == ["NCT03995108"]
    assert search_ids(http, fake, **{"query.term": "(plerixafor OR mozobil) AND granulomatous"}) == ["NCT03547830"]
    assert search_ids(http, fake, **{"query.term": "waldenström"}) == ["NCT09990001"]


def test_overall_status_filter(fake: FakeCtGov, http: requests.Session) -> None:
    assert search_ids(http, fake, **{"filter.overallStatus": "RECRUITING|NOT_YET_RECRUITING"}) == [
        "NCT06056297", "NCT09990001"]
    assert search_ids(http, fake, **{"filter.overallStatus": "WITHDRAWN,COMPLETED", "query.cond": COND}) == [
        "NCT00967785", "NCT03005327", "NCT03995108", "NCT09990002"]
    resp = get(http, fake, "/studies", **{"filter.overallStatus": "RECRUITNG"})
    assert resp.status_code == 400 and resp.text == "Invalid value in parameter overallStatus"


def test_last_update_date_filter(fake: FakeCtGov, http: requests.Session) -> None:
    assert search_ids(http, fake, **{"query.cond": COND, "filter.advanced": INCREMENTAL}) == []
    fake.update("NCT03005327", lambda s: s["protocolSection"]["statusModule"].update(overallStatus="TERMINATED"))
    assert last_update(fake, "NCT03005327") == "2026-11-20"
    assert search_ids(http, fake, **{"query.cond": COND, "filter.advanced": INCREMENTAL}) == ["NCT03005327"]
    assert search_ids(http, fake, **{"query.term": f"CXCR4 AND ({INCREMENTAL})"}) == ["NCT03005327"]
    assert search_ids(http, fake, **{"query.term": INCREMENTAL}) == ["NCT03005327"]
    # inclusive bounds, MIN, partial hi date
    assert search_ids(http, fake, **{"query.term": "AREA[LastUpdatePostDate]RANGE[2019-03-12,2019-03-12]"}) == [
        "NCT00967785"]
    assert search_ids(http, fake, **{"filter.advanced": "AREA[LastUpdatePostDate]RANGE[MIN, 2018-06]"}) == [
        "NCT03547830"]
    assert get(http, fake, "/studies", **{"query.term": "AREA[LastUpdatePostDate]RANGE[soon,MAX]"}).status_code == 400


def test_update_keeps_a_date_set_by_fn(fake: FakeCtGov) -> None:
    def fn(study: dict[str, Any]) -> None:
        study["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"]["date"] = "2026-11-19"

    fake.update("NCT04154488", fn)
    assert last_update(fake, "NCT04154488") == "2026-11-19"
    fake.today = "2026-12-01"
    fake.update("NCT04154488", lambda s: None)
    assert last_update(fake, "NCT04154488") == "2026-12-01"


def test_world_edits_are_served(fake: FakeCtGov, http: requests.Session) -> None:
    copy = fake.get("NCT00967785")
    copy["protocolSection"]["identificationModule"]["briefTitle"] = "changed"  # a copy: no effect
    assert get(http, fake, "/studies/NCT00967785").json()["protocolSection"]["identificationModule"][
        "briefTitle"] != "changed"
    fake.put(make_study(3))
    fake.remove("NCT09990001")
    assert "NCT90000003" in fake.nct_ids and "NCT09990001" not in fake.nct_ids
    assert "NCT90000003" in search_ids(http, fake, **{"query.cond": COND})
    assert get(http, fake, "/studies/NCT09990001").status_code == 404


# ---- log and faults ------------------------------------------------------------------------
def test_request_log(fake: FakeCtGov, http: requests.Session) -> None:
    get(http, fake, "/version")
    get(http, fake, "/studies", pageSize=2, **{"query.term": "CXCR4"})
    get(http, fake, "/studies/NCT00000001")
    logged = [(r.method, r.path, r.params, r.status) for r in fake.requests]
    assert logged == [("GET", "/version", {}, 200),
                      ("GET", "/studies", {"pageSize": "2", "query.term": "CXCR4"}, 200),
                      ("GET", "/studies/NCT00000001", {}, 404)]
    fake.clear_log()
    assert fake.requests == []


@pytest.mark.parametrize("kind", ["500", "502", "503", "504"])
def test_server_error_faults(fake: FakeCtGov, http: requests.Session, kind: str) -> None:
    fake.fail_next(kind, times=2)
    assert [get(http, fake, "/studies").status_code for _ in range(3)] == [int(kind), int(kind), 200]
    assert [r.status for r in fake.requests] == [int(kind), int(kind), 200]


def test_429_and_path_matching(fake: FakeCtGov, http: requests.Session) -> None:
    fake.fail_next("429", retry_after=7, path="/studies/")
    assert get(http, fake, "/studies").status_code == 200  # "/studies" does not start with "/studies/"
    assert get(http, fake, "/version").status_code == 200
    resp = get(http, fake, "/studies/NCT00967785")
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "7"
    assert get(http, fake, "/studies/NCT00967785").status_code == 200
    fake.fail_next("500", times=5)
    fake.clear_faults()
    assert get(http, fake, "/studies").status_code == 200


def test_reset_fault(fake: FakeCtGov, http: requests.Session) -> None:
    fake.fail_next("reset")
    with pytest.raises(requests.ConnectionError):
        get(http, fake, "/studies")
    assert get(http, fake, "/studies").status_code == 200
    assert [r.status for r in fake.requests] == [0, 200]


def test_delay_fault_exceeds_client_timeout(fake: FakeCtGov, http: requests.Session) -> None:
    fake.fail_next("delay", delay_s=1.0)
    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        http.get(fake.base_url + "/studies", timeout=0.2)
    assert time.monotonic() - started < 0.9
    assert get(http, fake, "/studies").status_code == 200


def test_truncated_html_and_bad_token_faults(fake: FakeCtGov, http: requests.Session) -> None:
    whole = get(http, fake, "/studies", pageSize=5)
    fake.fail_next("truncated")
    cut = get(http, fake, "/studies", pageSize=5)
    assert cut.status_code == 200 and cut.headers["Content-Type"] == "application/json"
    assert cut.content == whole.content[: len(whole.content) // 2]
    with pytest.raises(json.JSONDecodeError):
        json.loads(cut.text)
    fake.fail_next("html")
    html = get(http, fake, "/studies")
    assert html.status_code == 200 and html.headers["Content-Type"] == "application/json"
    assert html.text.startswith("<html>")
    fake.fail_next("bad_token")
    bad = get(http, fake, "/studies")
    assert bad.status_code == 400 and bad.headers["Content-Type"].startswith("text/plain")
    with pytest.raises(ValueError):
        fake.fail_next("teapot")


# ---- scale ---------------------------------------------------------------------------------
def test_big_world_pages_quickly(http: requests.Session) -> None:
    with FakeCtGov(make_study(i) for i in range(3000)) as big:
        started = time.monotonic()
        seen: list[str] = []
        params: dict[str, Any] = {"query.term": "CXCR4", "pageSize": 1000, "countTotal": "true"}
        resp = get(http, big, "/studies", **params).json()
        assert resp["totalCount"] == 1000
        while True:
            seen += [s["protocolSection"]["identificationModule"]["nctId"] for s in resp["studies"]]
            if "nextPageToken" not in resp:
                break
            resp = get(http, big, "/studies", **params, pageToken=resp["nextPageToken"]).json()
        assert seen == [f"NCT{90000000 + i:08d}" for i in range(2, 3000, 3)]
        assert time.monotonic() - started < 5
        assert big.connections_accepted == 1


# ---- the worlds themselves -----------------------------------------------------------------
MODULES = ("identificationModule", "statusModule", "sponsorCollaboratorsModule", "descriptionModule",
           "conditionsModule", "designModule", "armsInterventionsModule", "eligibilityModule",
           "contactsLocationsModule")


@pytest.mark.parametrize("study", load_fixture_studies() + [make_study(i) for i in range(6)],
                         ids=lambda s: s["protocolSection"]["identificationModule"]["nctId"])
def test_worlds_have_the_real_record_shape(study: dict[str, Any]) -> None:
    assert all(m in study["protocolSection"] for m in MODULES)
    assert study["derivedSection"]["miscInfoModule"]["versionHolder"]
    assert isinstance(study["hasResults"], bool) and (study["hasResults"] == ("resultsSection" in study))
    assert all("geoPoint" in loc for loc in study["protocolSection"]["contactsLocationsModule"]["locations"])


def test_make_study_is_deterministic_and_real_sized() -> None:
    assert make_study(7) == make_study(7) != make_study(8)
    assert make_study(7, seed_date="2025-05-05") != make_study(7)
    sizes = [len(json.dumps(make_study(i), separators=(",", ":"))) for i in range(300)]
    assert min(sizes) >= 4000
    assert max(sizes) <= 8500
    assert max(last_update_of(make_study(i)) for i in range(400)) <= "2024-01-01"
    first = load_fixture_studies()
    first[0]["protocolSection"]["identificationModule"]["nctId"] = "changed"
    assert load_fixture_studies()[0]["protocolSection"]["identificationModule"]["nctId"] == "NCT00967785"


def last_update_of(study: dict[str, Any]) -> str:
    date: str = study["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"]["date"]
    return date


def test_eligibility_criteria_area(fake: FakeCtGov, http: requests.Session) -> None:
    def only_in_criteria(record: dict[str, Any]) -> None:
        record["protocolSection"]["eligibilityModule"]["eligibilityCriteria"] = "* Confirmed myelokathexis"

    fake.update("NCT03547830", only_in_criteria)
    area = "AREA[EligibilityCriteria](WHIM OR Myelokathexis)"
    found = search_ids(http, fake, **{"query.term": area})
    assert found == ["NCT00967785", "NCT03005327", "NCT03547830", "NCT03995108", "NCT04154488", "NCT09990002"]
    assert "NCT06056297" not in found  # WHIM nowhere in its criteria (only "WHIM" elsewhere would not do)
    assert search_ids(http, fake, **{"query.term": f"{area} AND Zurich"}) == ["NCT03547830"]
    assert search_ids(http, fake, **{"query.term": "AREA[EligibilityCriteria]nothing-like-this"}) == []
