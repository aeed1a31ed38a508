"""Every fault the fake API can throw: the client recovers within max_retries, or the sync fails cleanly with the
database unchanged; 400s are never retried and their message is shown; a second sync is refused."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.conftest import Project
from tests.ingest.test_sync import snapshot
from trialfinder.ingest.client import ApiClient, ApiError
from trialfinder.run.sync import run_sync

TRANSIENT = ["429", "500", "502", "503", "504", "reset", "delay", "truncated", "html"]


def recording_client(project: Project) -> tuple[ApiClient, list[float]]:
    waits: list[float] = []
    return ApiClient(project.config.api, sleep=waits.append), waits


@pytest.mark.parametrize("kind", TRANSIENT)
def test_transient_fault_is_retried_and_the_sync_completes(project: Project, kind: str) -> None:
    project.api.fail_next(kind, times=2, delay_s=1.5)  # the test config's timeout is 1 s
    client, waits = recording_client(project)
    result = run_sync(project.config, project.engine(), client=client)
    assert result.new == len(snapshot(project.engine())["studies"]) > 0
    faulted = [r for r in project.api.requests if r.path == "/studies"]
    assert len(faulted) == result.requests - 1  # every /studies request, faulted or not, counted once
    assert len(waits) == 2


def test_429_retry_after_is_honoured(project: Project) -> None:
    project.api.fail_next("429", times=1, retry_after=7)
    client, waits = recording_client(project)
    run_sync(project.config, project.engine(), client=client)
    assert waits == [7.0]


def test_backoff_grows_exponentially_with_jitter(project: Project) -> None:
    client = ApiClient(project.config.api)
    delays = [client._backoff(n) for n in (1, 2, 3)]
    base = project.config.api.backoff_s
    for n, delay in enumerate(delays, start=1):
        assert base * 2 ** (n - 1) * 0.5 <= delay <= base * 2 ** (n - 1)


@pytest.mark.parametrize("kind", ["503", "reset", "truncated"])
def test_persistent_fault_gives_up_after_max_retries_and_changes_nothing(project: Project, kind: str) -> None:
    project.cli("sync")
    engine = project.engine()
    before = snapshot(engine)
    project.api.update(project.api.nct_ids[0], lambda r: r["protocolSection"]["statusModule"].update(
        overallStatus="WITHDRAWN"))  # fmt: skip
    project.api.fail_next(kind, times=50)
    project.api.clear_log()
    result = project.cli("sync", "--full", expect=1)
    assert result.stderr.startswith("trialfinder: error: sync failed, nothing was changed:")
    assert "failed after 4 attempts" in result.stderr  # 1 + max_retries (3)
    assert len(result.stderr.strip().splitlines()) == 1
    assert snapshot(engine) == before
    assert len([r for r in project.api.requests if r.path == "/studies"]) == 4


def test_400_is_not_retried_and_its_message_is_shown(project: Project) -> None:
    project.api.fail_next("bad_token", times=1)
    project.api.clear_log()
    result = project.cli("sync", expect=1)
    assert "HTTP 400" in result.stderr
    assert len([r for r in project.api.requests if r.path == "/studies"]) == 1


def test_unknown_parameter_400_quotes_the_api(project: Project) -> None:
    client = ApiClient(project.config.api)
    with pytest.raises(ApiError) as caught:
        list(client.iter_pages({"filter.phase": "PHASE3"}))
    assert "`filter.phase` is unknown parameter" in str(caught.value)
    assert caught.value.status == 400
    assert client.requests_made == 1


def test_404_study_is_none_and_alias_is_followed(project: Project) -> None:
    client = ApiClient(project.config.api)
    assert client.get_study("NCT00000001") is None
    target = project.api.nct_ids[0]
    project.api.add_alias("NCT01234567", target)
    record = client.get_study("NCT01234567")
    assert record is not None
    assert record["protocolSection"]["identificationModule"]["nctId"] == target


def test_min_interval_is_kept_between_requests(project: Project) -> None:
    import dataclasses

    config = dataclasses.replace(project.config.api, min_interval_s=5.0)
    waits: list[float] = []
    client = ApiClient(config, sleep=waits.append)
    client.version()
    client.version()
    assert len(waits) == 1 and 4.0 < waits[0] <= 5.0


def test_second_sync_is_refused_while_one_runs(project: Project) -> None:
    engine: Engine = project.engine()
    project.cli("sync")
    inside = threading.Event()
    release = threading.Event()
    outcome: dict[str, Any] = {}

    def slow_handler(*_args: Any) -> None:
        inside.set()
        release.wait(10)

    project.api.update(project.api.nct_ids[0], lambda r: r["protocolSection"]["statusModule"].update(
        overallStatus="SUSPENDED"))  # fmt: skip

    def first() -> None:
        outcome["result"] = run_sync(project.config, engine, full=True, handlers=[slow_handler])

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert inside.wait(10), "the first sync never reached its transaction"
        refused = project.cli("sync", expect=3)
        assert "another sync is running (started at" in refused.stderr
        assert project.cli("status").stdout  # reading is never blocked by the running sync
    finally:
        release.set()
        thread.join(20)
    assert outcome["result"].changed == 1
    assert project.cli("sync").code == 0  # the lock is released afterwards
