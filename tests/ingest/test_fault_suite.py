"""The fault suite beyond single faults (tests/ingest/test_faults.py): Retry-After as an HTTP-date, 5xx bursts just
within and just past max_retries, and faults on a middle page, transient or for good. Each run either completes
with exactly the fault-free result or fails with the database byte for byte as before. The data set moving
between pages and faults during removal checks are in test_removals.py. The table is in docs/reliability.md."""

from __future__ import annotations

import email.utils
import time

import pytest

from tests.conftest import Project
from tests.ingest.test_sync import snapshot
from trialfinder.ingest.client import ApiClient, _retry_after
from trialfinder.run.sync import run_sync


def test_retry_after_as_an_http_date_is_honoured(project: Project) -> None:
    waits: list[float] = []
    client = ApiClient(project.config.api, sleep=waits.append)
    later = email.utils.formatdate(time.time() + 6, usegmt=True)
    project.api.fail_next("429", times=1, retry_after=later)
    run_sync(project.config, project.engine(), client=client)
    assert len(waits) == 1 and 4.0 <= waits[0] <= 6.0


def test_retry_after_forms() -> None:
    now = 1_000_000.0
    assert _retry_after("7", lambda: now) == 7.0
    assert _retry_after(email.utils.formatdate(now + 30, usegmt=True), lambda: now) == 30.0
    assert _retry_after(email.utils.formatdate(now - 30, usegmt=True), lambda: now) == 0.0  # in the past: now
    assert _retry_after("100000", lambda: now) == 300.0  # capped
    assert _retry_after("soon", lambda: now) is None and _retry_after("nan", lambda: now) is None


@pytest.mark.parametrize(("kind", "times", "ok"), [("503", 3, True), ("503", 4, False), ("500", 3, True),
                                                   ("reset", 4, False), ("html", 3, True), ("truncated", 4, False)])
def test_a_burst_within_max_retries_recovers_and_one_past_it_changes_nothing(
    project: Project, kind: str, times: int, ok: bool
) -> None:
    project.cli("sync")
    engine = project.engine()
    before = snapshot(engine)
    project.api.update(project.api.nct_ids[0], lambda r: r["protocolSection"]["statusModule"].update(
        overallStatus="WITHDRAWN"))  # fmt: skip
    project.api.fail_next(kind, times=times)  # max_retries is 3 in the test config: 4 attempts in all
    result = project.cli("sync", "--full", expect=0 if ok else 1)
    if ok:
        assert ", 1 changed," in result.stdout
    else:
        assert "failed after 4 attempts" in result.stderr and snapshot(engine) == before


@pytest.mark.parametrize("kind", ["reset", "503", "truncated", "delay"])
def test_a_transient_fault_on_a_middle_page_gives_the_fault_free_result(project: Project, kind: str) -> None:
    project.cli("sync")
    project.api.update(project.api.nct_ids[-1], lambda r: r["protocolSection"]["statusModule"].update(
        overallStatus="COMPLETED"))  # fmt: skip
    project.api.after_page(2, lambda fake: fake.fail_next(kind, times=2, delay_s=1.5))
    result = project.cli("sync", "--full")
    assert ", 1 changed," in result.stdout and ", 0 removed;" in result.stdout
    assert "missed by paging" not in result.stdout


def test_a_fault_for_good_on_a_middle_page_changes_nothing(project: Project) -> None:
    project.cli("sync")
    engine = project.engine()
    before = snapshot(engine)
    for nct_id in project.api.nct_ids[:3]:
        project.api.update(nct_id, lambda r: r["protocolSection"]["statusModule"].update(overallStatus="SUSPENDED"))
    project.api.after_page(2, lambda fake: fake.fail_next("502", times=100))
    result = project.cli("sync", "--full", expect=1)
    assert "nothing was changed" in result.stderr and "Traceback" not in result.stderr
    assert snapshot(engine) == before
    project.api.clear_faults()
    assert ", 3 changed," in project.cli("sync", "--full").stdout
