"""Unchanged studies are recognised by the fingerprint of their raw bytes and never parsed; anything else is parsed
and compared exactly, so no change is missed; pages are split without parsing, two pages alive at most."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from sqlalchemy import Engine, select

from tests.conftest import Project
from trialfinder.ingest import sync as ingest_sync
from trialfinder.ingest.canonical import fingerprint
from trialfinder.ingest.client import ApiError, split_page
from trialfinder.ingest.readahead import ReadAhead
from trialfinder.models import Study, StudyVersion
from trialfinder.run.sync import run_sync

studies = Study


def _parsed_during(project: Project, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, list[str]]:
    """Run a full sync, returning its result and the NCT ids of the studies it parsed."""
    parsed: list[str] = []
    real = ingest_sync.Candidate.of

    def counting(record: dict[str, Any], *known: Any) -> Any:
        candidate = real(record, *known)
        parsed.append(candidate.nct_id)
        return candidate

    monkeypatch.setattr(ingest_sync.Candidate, "of", staticmethod(counting))
    result = run_sync(project.config, engine, full=True, progress=False)
    monkeypatch.undo()
    return result, parsed


def keeping_the_date(fn: Any) -> Any:
    """`fn`, leaving lastUpdatePostDate as it is (FakeCtGov.update moves it to today otherwise)."""

    def change(record: dict[str, Any]) -> None:
        fn(record)
        status = record["protocolSection"]["statusModule"]
        status["lastUpdatePostDateStruct"] = dict(status["lastUpdatePostDateStruct"])

    return change


def _versions(engine: Engine) -> int:
    with engine.connect() as conn:
        return len(conn.execute(select(StudyVersion.c.id)).all())


def test_an_unchanged_resync_parses_nothing_and_a_change_is_still_found(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = project.engine()
    first, parsed = _parsed_during(project, engine, monkeypatch)
    assert first.new == len(set(parsed)) > 0
    with engine.connect() as conn:
        assert None not in conn.execute(select(studies.c.raw_fingerprint)).scalars().all()
    versions = _versions(engine)

    ids = project.api.nct_ids
    stamp = keeping_the_date(lambda r: r["derivedSection"]["miscInfoModule"].update(versionHolder="2027-01-01"))
    project.api.update(ids[0], stamp)
    again, parsed = _parsed_during(project, engine, monkeypatch)
    assert parsed == [] and again.unchanged == first.new and again.changed == 0
    assert _versions(engine) == versions

    def retitle(record: dict[str, Any]) -> None:
        record["protocolSection"]["identificationModule"]["briefTitle"] = "A new title"

    project.api.update(ids[1], retitle)
    changed, parsed = _parsed_during(project, engine, monkeypatch)
    assert parsed == [ids[1]] and changed.changed == 1 and changed.unchanged == first.new - 1
    assert _versions(engine) == versions + 1


def test_new_bytes_with_the_same_content_are_compared_exactly_then_recognised(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = project.engine()
    _parsed_during(project, engine, monkeypatch)
    nct_id = project.api.nct_ids[2]

    def reorder(record: dict[str, Any]) -> None:  # same content, other key order: other bytes
        record["protocolSection"] = dict(reversed(list(record["protocolSection"].items())))

    project.api.update(nct_id, keeping_the_date(reorder))
    result, parsed = _parsed_during(project, engine, monkeypatch)
    assert parsed == [nct_id] and result.changed == 0 and result.new == 0
    _, parsed = _parsed_during(project, engine, monkeypatch)
    assert parsed == []  # its new fingerprint was stored


def test_fingerprint_ignores_only_the_stamp() -> None:
    body = b'{"a":1,"derivedSection":{"miscInfoModule":{"versionHolder":"2025-06-17"},"b":2}}'
    assert fingerprint(body) == fingerprint(body.replace(b"2025-06-17", b"2026-01-01"))
    assert fingerprint(body) != fingerprint(body.replace(b'"a":1', b'"a":2'))
    twice = body[:-1] + b',"x":{"miscInfoModule":{"versionHolder":"1"}}}'
    assert fingerprint(twice) != fingerprint(twice.replace(b'"1"', b'"2"'))  # two of them: nothing is blanked
    escaped = body.replace(b"2025-06-17", b"2025\\u002d06")
    assert fingerprint(escaped) != fingerprint(body.replace(b"2025-06-17", b"2025\\u002d07"))


@pytest.mark.parametrize("body", [
    b'{"a":1,"derivedSection":{"miscInfoModule":{"versionHolder":"2025-06-17"},"b":2}}',
    b'{"derivedSection" : {"miscInfoModule" : { "versionHolder" : "2025"}, "x": "miscInfo"}}',
    b'{"m":{"miscInfoModule":{"versionHolder":"1"}},"n":{"miscInfoModule":{"versionHolder":"2"}}}',
    b'{"miscInfoModule":{"other":1,"versionHolder":"3"}}', b'{"miscInfoModule":{"versionHolder":"a\\"b"}}', b"{}",
])  # fmt: skip
def test_the_fingerprint_is_still_the_one_stored_fingerprints_were_made_with(body: bytes) -> None:
    import hashlib
    import re

    # The definition the stored raw_fingerprint values were made with: the one stamp blanked, then SHA-256.
    stamp = re.compile(rb'"miscInfoModule"\s*:\s*\{\s*"versionHolder"\s*:\s*"[^"\\]*"')
    blanked = stamp.sub(b'"miscInfoModule":{"versionHolder":""', body, count=1)
    expected = hashlib.sha256(blanked if body.count(b'"miscInfoModule"') == 1 else body).hexdigest()
    assert fingerprint(body) == expected


def test_split_page_gives_byte_slices_and_falls_back_to_the_stdlib() -> None:
    studies_, total, token = split_page(b'{"studies":[{"a":1},{"b":[2]}],"totalCount":2,"nextPageToken":"t"}')
    assert [bytes(s) for s in studies_] == [b'{"a":1}', b'{"b":[2]}'] and (total, token) == (2, "t")
    assert all(isinstance(s, msgspec.Raw) for s in studies_)
    odd, _, _ = split_page(b'{"studies":[{"a":"\\ud800"}]}')  # msgspec refuses a lone surrogate; json takes it
    assert odd == [{"a": "\ud800"}]
    with pytest.raises(ValueError):
        split_page(b'{"studies":[{"a":1}')  # truncated: not JSON, retried by the client
    with pytest.raises(ApiError):
        split_page(b'{"other":[]}')


def test_read_ahead_keeps_at_most_two_items_alive() -> None:
    fetched: list[int] = []
    lock = threading.Lock()
    worst = 0

    def source() -> Iterator[tuple[str, Any]]:
        for number in range(20):
            with lock:
                fetched.append(number)
            yield "s", number

    for _name, number in ReadAhead(source(), 2):  # ints stand in for pages
        threading.Event().wait(0.01)  # let the thread run ahead as far as it may
        with lock:
            worst = max(worst, len(fetched) - number)
    assert worst <= 2 and fetched == list(range(20))


def test_a_recognised_study_written_again_since_it_was_looked_up_is_parsed_and_compared(project: Project) -> None:
    # The writer runs a chunk behind the lookup of a page's fingerprints: a study whose stored row moved on in
    # between (written again by an earlier chunk) must not be counted unchanged on the old fingerprint.
    import json

    from tests.worldgen import make_study
    from trialfinder.ingest.runs import finish_run, start_run
    from trialfinder.ingest.store import Candidate, Recognised, StudyWriter
    from trialfinder.models import utcnow

    engine = project.engine()
    first = make_study(1)
    second = json.loads(json.dumps(first))
    second["protocolSection"]["identificationModule"]["briefTitle"] = "Retitled between two chunks"
    old_bytes, new_bytes = json.dumps(first).encode(), json.dumps(second).encode()
    run_id = start_run(engine, "full")
    with engine.begin() as conn:
        writer = StudyWriter(conn, run_id, utcnow())
        writer.write_page("whim", [Candidate.of(first, fingerprint(old_bytes))])
        nct_id = writer.recognise([fingerprint(old_bytes)])[fingerprint(old_bytes)]
        looked_up = Recognised(nct_id, fingerprint(old_bytes), old_bytes)
        writer.write_page("whim", [Candidate.of(second, fingerprint(new_bytes))])  # the earlier chunk
        changes = writer.write_page("whim", [], [looked_up])  # the old bytes again, recognised on the old print
        stored = conn.execute(select(studies.c.content_hash, studies.c.raw_fingerprint)).one()
    finish_run(engine, run_id, status="succeeded", values={})
    assert [change.kind for change in changes] == ["changed"]
    assert stored.content_hash == Candidate.of(first).content_hash
    assert stored.raw_fingerprint == fingerprint(old_bytes)


def test_an_error_in_a_write_reaches_the_sync_which_rolls_everything_back(project: Project) -> None:
    engine = project.engine()
    calls: list[int] = []

    def failing(conn: Any, run_id: int, changes: Any) -> None:
        calls.append(len(changes))
        if len(calls) == 2:
            raise RuntimeError("the second chunk's handler failed")

    with pytest.raises(ingest_sync.SyncFailed, match="second chunk"):
        ingest_sync.run_sync(project.config, engine, full=True, progress=False, handlers=[failing])
    assert len(calls) == 2  # nothing written after the error
    with engine.connect() as conn:
        assert conn.execute(select(studies.c.nct_id)).first() is None


def test_an_unchanged_pages_studies_are_written_hundreds_at_a_time(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Recognised studies are only slices of the page: they go to the writer up to RECOGNISED_AT_ONCE at a time
    (a few statements per page), the parsed ones PARSED_AT_ONCE at a time (their objects bound memory)."""
    from tests.conftest import write_config
    from tests.worldgen import make_study
    from trialfinder.ingest.pipeline import ChunkWriter

    project.api.put_many(make_study(i) for i in range(300))
    write_config(project.path, project.api.base_url, page_size=1000)
    engine = project.engine()
    run_sync(project.config, engine, full=True, progress=False)
    handed: list[tuple[int, int]] = []
    real = ChunkWriter.write

    def watching(self: ChunkWriter, name: str, candidates: Any, recognised: Any) -> None:
        handed.append((len(candidates), len(recognised)))
        real(self, name, candidates, recognised)

    monkeypatch.setattr(ChunkWriter, "write", watching)
    monkeypatch.setattr(ingest_sync, "RECOGNISED_AT_ONCE", 60)  # below the ~105 a page recognises, so the cap shows
    project.api.update(project.api.nct_ids[0], keeping_the_date(
        lambda r: r["protocolSection"]["statusModule"].update(overallStatus="SUSPENDED")))  # fmt: skip
    result = run_sync(project.config, engine, full=True, progress=False)
    assert result.changed == 1
    biggest = max(recognised for _, recognised in handed)
    assert biggest == 60 > ingest_sync.PARSED_AT_ONCE, handed
    assert all(candidates <= ingest_sync.PARSED_AT_ONCE for candidates, _ in handed)
    assert sum(candidates for candidates, _ in handed) >= 1


def test_the_read_ahead_thread_hashes_the_page_it_handed_over_while_it_waits() -> None:
    """While the caller holds a page, the waiting read-ahead thread computes the fingerprints of the next one; a
    page asked for its fingerprints by two threads at once computes them once, with the values of `fingerprint`."""
    from trialfinder.ingest.client import Page, _hash_page

    bodies = [b'{"studies":[{"a":%d},{"b":[%d]}]}' % (n, n) for n in range(4)]
    pages = [Page(split_page(body)[0], None, None) for body in bodies]
    reader = ReadAhead(iter([("s", page) for page in pages]), 2, _hash_page)
    taken: list[Page] = []
    for _name, page in reader:
        deadline = time.monotonic() + 5
        waiting = pages[len(taken) + 1] if len(taken) + 1 < len(pages) else None
        while waiting is not None and waiting._prints is None and time.monotonic() < deadline:
            time.sleep(0.005)
        assert waiting is None or waiting._prints is not None  # hashed by the thread while we held `page`
        taken.append(page)
    assert taken == pages

    fresh = Page(split_page(bodies[0])[0], None, None)
    seen: list[list[str | None]] = []
    threads = [threading.Thread(target=lambda: seen.append(fresh.fingerprints)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen[0] is seen[1] and seen[0] == [fingerprint(b'{"a":0}'), fingerprint(b'{"b":[0]}')]
