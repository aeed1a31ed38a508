"""A bounded read-ahead: an iterator's items fetched on a thread of their own, a fixed number ahead of the caller."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")
_DONE = object()


class ReadAhead(Generic[T]):
    """`source` run on a thread of its own from now on, at most `ahead` items ahead of the caller: an item is
    fetched only while fewer than that are fetched and not yet let go (the caller lets an item go when it asks for
    the next), so the caller's item and the one fetching are all that is alive (with `ahead` 2). While the thread
    waits for the caller, it calls `idle` with the item it handed over last (work the caller would otherwise do).
    Iterate once; an error in the thread is raised at the item it stopped; `close` (or the end of the iteration)
    stops the thread."""

    def __init__(self, source: Iterator[T], ahead: int, idle: Callable[[T], None] | None = None) -> None:
        self._handoff: queue.Queue[Any] = queue.Queue()
        self._tickets = threading.Semaphore(ahead)
        self._stop = threading.Event()
        self._idle = idle
        self._thread = threading.Thread(target=self._produce, args=(source,), name="trialfinder-read-ahead",
                                        daemon=True)  # fmt: skip
        self._thread.start()

    def _produce(self, source: Iterator[T]) -> None:
        try:
            iterator = iter(source)
            item: Any = _DONE  # the item handed over last, until the next one is fetched
            while True:
                if not self._tickets.acquire(blocking=False):
                    if item is not _DONE and self._idle is not None:
                        self._idle(item)
                    item = _DONE
                    while not self._tickets.acquire(timeout=0.1):
                        if self._stop.is_set():
                            return
                item = _DONE
                if self._stop.is_set():
                    return
                item = next(iterator, _DONE)
                self._handoff.put(item)
                if item is _DONE:
                    return
        except BaseException as exc:  # handed to the consumer, which raises it
            self._handoff.put(exc)

    def __iter__(self) -> Iterator[T]:
        try:
            while True:
                item = self._handoff.get()
                if item is _DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
                item = None
                self._tickets.release()
        finally:
            self.close()

    def close(self) -> None:
        """Stop the thread (after the item it is fetching, if any) and drop what it fetched."""
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._handoff.get(timeout=0.1)
            except queue.Empty:
                continue
        self._thread.join()
