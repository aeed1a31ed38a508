"""A sync's writes one chunk behind its parsing: `ChunkWriter` runs `StudyWriter.write_page` and the change handlers
on a thread of its own, so that while the database works on one chunk of studies (SQLite and psycopg do it without
holding the GIL) the caller parses, hashes and normalizes the next.

Still one connection and one transaction: the connection is only ever used by one thread at a time (the writer's
thread while it writes, the caller's for `recognise`, under the same lock), and the caller waits for every write to
be done (`finish`) before it goes on with the run. At most two chunks of parsed studies are alive: the one being
written and the one the caller has just parsed, which waits until the first is done. An error in a write is raised
in the caller at its next hand-over; an error in the caller (or a signal while it waits) stops the thread after the
chunk it is writing, before the caller's transaction rolls back.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

from sqlalchemy import Connection

from trialfinder.ingest.records import Candidate, Change, Recognised
from trialfinder.ingest.store import StudyWriter

# What sees every chunk's changes inside the run's transaction (run.sync adds the recording of change events).
ChangeHandler = Callable[[Connection, int, Sequence[Change]], None]
_STOP = object()


class ChunkWriter:
    """`write(search_name, candidates, recognised)` hands a chunk over and returns at once (after the chunk before
    it is written); `finish()` waits for the last one. Use as a context manager."""

    def __init__(self, writer: StudyWriter, handlers: Sequence[ChangeHandler]) -> None:
        self.writer = writer
        self.handlers = tuple(handlers)
        self._lock = threading.Lock()
        self._todo: queue.Queue[Any] = queue.Queue(maxsize=1)
        self._error: BaseException | None = None
        self._abandoned = False
        self._thread = threading.Thread(target=self._work, name="trialfinder-writer", daemon=True)

    def __enter__(self) -> ChunkWriter:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if error is not None:
            self._abandoned = True  # the run rolls back: a chunk still queued is not written
        self._stop()

    def recognise(self, fingerprints: Sequence[str]) -> dict[str, str]:
        """`StudyWriter.recognise`, between two writes (raising the error a write met, not one that followed)."""
        with self._lock:
            if self._error is not None:
                raise self._error
            return self.writer.recognise(fingerprints)

    def write(self, search_name: str, candidates: Sequence[Candidate], recognised: Sequence[Recognised]) -> None:
        """Hand one chunk to the thread, once the chunk before it is written (raising that one's error, if any)."""
        self._wait()
        self._todo.put((search_name, candidates, recognised))

    def finish(self) -> None:
        """Wait until every chunk handed over is written; raise the error a write met."""
        self._wait()
        self._stop()

    def _wait(self) -> None:
        self._todo.join()
        if self._error is not None:
            raise self._error

    def _stop(self) -> None:
        """End the thread once the chunk it writes is done, whatever signal comes meanwhile: until it is, the caller
        must not roll back or commit (a second Ctrl-C or SIGTERM waits, then is raised)."""
        interrupted: BaseException | None = None
        while self._thread.is_alive():
            try:
                self._todo.join()  # the chunk being written is finished, not abandoned halfway
                self._todo.put(_STOP)
                self._thread.join()
            except BaseException as exc:  # KeyboardInterrupt (SIGTERM too, under the scheduler) while waiting
                interrupted = interrupted or exc
                self._abandoned = True
        if interrupted is not None:
            raise interrupted

    def _work(self) -> None:
        while True:
            item = self._todo.get()
            try:
                if item is _STOP:
                    return
                if self._error is None and not self._abandoned:
                    with self._lock:
                        self._write(*item)
            except BaseException as exc:  # raised in the caller's thread, at its next hand-over
                self._error = exc
            finally:
                item = None
                self._todo.task_done()

    def _write(self, search_name: str, candidates: Sequence[Candidate], recognised: Sequence[Recognised]) -> None:
        changes = self.writer.write_page(search_name, candidates, recognised)
        if changes:
            for handler in self.handlers:
                handler(self.writer.conn, self.writer.run_id, changes)
