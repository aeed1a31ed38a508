"""trialfinder.leases on the test database: a held lease is renewed while its holder lives, refuses a second taker,
and is free again once released."""

from __future__ import annotations

import time

import pytest

from trialfinder import leases
from trialfinder.db import open_database


def test_a_held_lease_is_renewed_refuses_others_and_is_free_after_release(database_url: str) -> None:
    engine = open_database(database_url)
    lease = leases.acquire(engine, "job", ttl_s=0.6)
    try:
        with engine.connect() as conn:
            first = leases.current(conn, "job")
        time.sleep(1.0)  # past the ttl: only renewals keep it
        with engine.connect() as conn:
            later = leases.current(conn, "job")
        assert later.beat_at > first.beat_at and later.expires_at > first.expires_at
        with pytest.raises(leases.LeaseBusy) as busy:
            leases.acquire(engine, "job", ttl_s=0.6)
        assert busy.value.row.holder == leases.this_process()
    finally:
        lease.release()
    with engine.connect() as conn:
        assert leases.current(conn, "job") is None
    leases.acquire(engine, "job").release()
    engine.dispose()
