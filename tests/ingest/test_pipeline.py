"""ingest.pipeline.ChunkWriter: the writes' thread never outlives the caller's transaction, and the error a write
met is the one the caller sees."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from trialfinder.ingest.pipeline import ChunkWriter


class _Writer:
    """Stands in for StudyWriter: write_page calls `on_write`, recognise calls `on_recognise`."""

    conn = None
    run_id = 1

    def __init__(self, on_write: Any, on_recognise: Any = None) -> None:
        self.on_write, self.on_recognise = on_write, on_recognise
        self.written: list[Any] = []

    def write_page(self, search_name: str, candidates: Any, recognised: Any) -> list[Any]:
        self.on_write(candidates)
        self.written.append(candidates)
        return []

    def recognise(self, fingerprints: Any) -> dict[str, str]:
        return self.on_recognise() if self.on_recognise else {}


@pytest.fixture
def ctrl_c_raises() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt, as in a terminal, even where pytest was started with SIGINT ignored (a
    background job of a non-interactive shell)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.usefixtures("ctrl_c_raises")
def test_a_signal_while_the_caller_waits_for_the_write_is_raised_only_once_the_thread_is_done() -> None:
    started, release = threading.Event(), threading.Event()

    def slow(candidates: Any) -> None:
        started.set()
        release.wait(10)

    writer = _Writer(slow)
    main = threading.get_ident()

    def interrupt_then_release() -> None:
        time.sleep(0.3)
        signal.pthread_kill(main, signal.SIGINT)  # a second Ctrl-C while the caller rolls back
        time.sleep(0.3)
        release.set()

    helper = threading.Thread(target=interrupt_then_release)
    chunks = ChunkWriter(writer, [])  # type: ignore[arg-type]
    with pytest.raises(KeyboardInterrupt), chunks:
        chunks.write("s", ["first"], [])  # type: ignore[list-item]
        started.wait(5)
        helper.start()
        raise RuntimeError("the caller failed")  # its transaction is about to roll back
    helper.join()
    assert release.is_set() and not chunks._thread.is_alive()  # the write ended before the signal was raised
    assert writer.written == [["first"]]


def test_recognise_after_a_failed_write_raises_that_write_s_error() -> None:
    def failing(candidates: Any) -> None:
        raise RuntimeError("the write failed")

    def aborted() -> dict[str, str]:
        raise RuntimeError("current transaction is aborted")  # what PostgreSQL would say next

    chunks = ChunkWriter(_Writer(failing, aborted), [])  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="the write failed"), chunks:
        chunks.write("s", ["first"], [])  # type: ignore[list-item]
        deadline = time.monotonic() + 5
        while chunks._error is None and time.monotonic() < deadline:
            time.sleep(0.01)
        chunks.recognise(["fp"])
