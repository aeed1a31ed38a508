"""An API that cannot be reached: one line that points at `trialfinder demo`, and no retries on a DNS failure."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from tests.conftest import write_config
from trialfinder.config import ApiConfig
from trialfinder.ingest.client import DEMO_HINT, ApiClient, ApiError


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_name_that_does_not_resolve_fails_at_once_and_names_the_demo() -> None:
    client = ApiClient(ApiConfig(base_url="http://clinicaltrials.invalid/api/v2", max_retries=5, backoff_s=5.0))
    started = time.monotonic()
    with pytest.raises(ApiError) as caught:
        client.version()
    assert client.requests_made == 1  # no retry
    assert time.monotonic() - started < 5.0  # never the 5 s first backoff
    message = str(caught.value)
    assert "cannot reach http://clinicaltrials.invalid/api/v2 (its host name does not resolve)" in message
    assert message.endswith(DEMO_HINT)


def test_a_refused_connection_is_retried_then_names_the_demo() -> None:
    url = f"http://127.0.0.1:{_closed_port()}/api/v2"
    client = ApiClient(ApiConfig(base_url=url, max_retries=2, backoff_s=0.01, min_interval_s=0.0))
    with pytest.raises(ApiError) as caught:
        client.version()
    assert client.requests_made == 3
    assert str(caught.value).startswith(f"cannot reach {url} (GET /version failed after 3 attempts")
    assert str(caught.value).endswith(DEMO_HINT)


def test_sync_says_it_in_one_line(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from trialfinder.cli import main

    config = write_config(tmp_path, "http://clinicaltrials.invalid/api/v2")
    result = CliRunner().invoke(main, ["--config", str(config), "sync"])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("trialfinder: error: ")
    assert "cannot reach http://clinicaltrials.invalid/api/v2" in lines[-1]
    assert "run `trialfinder demo`" in lines[-1]
    assert "Traceback" not in result.stderr
