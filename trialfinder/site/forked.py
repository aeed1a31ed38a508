"""A render's work shared with forked copies of its process: `share_out` runs the same work here and in the
children, each taking the next chunk number from a shared pipe until none is left, and gives back what each child
reports (the page manifest entries it made, for render's part).

Fork, not spawn: a child starts with the finished view model and the compiled templates, so nothing is pickled on
the way in, and only each child's report comes back, pickled through a pipe of its own. Linux only: elsewhere, or
with one process asked for, everything runs here. A child ignores SIGINT and SIGTERM (its parent decides: a parent
that stops for any reason kills its children), stops when its parent is gone, touches no database, and never returns
into the parent's code: it ends with os._exit. A child's exception is raised in the parent as if the work had run
there (with the child's traceback as a note), so a failing page fails the render the same way with or without
children.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import struct
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NoReturn, TypeVar

R = TypeVar("R")
_TOKEN = struct.Struct("=I")
# Every chunk number is written into the pipe before the children start, so they must fit its buffer (64 KiB on
# Linux, of which 4 bytes per number).
MAX_CHUNKS = 16384


def usable_cores() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def can_fork() -> bool:
    """Whether `share_out` uses children here (Linux: fork is safe with the libraries a render uses)."""
    return sys.platform.startswith("linux")


def share_out(chunks: Sequence[int], work: Callable[[Iterator[int]], None], processes: int, report: Callable[[], R],
              first: Callable[[], None] | None = None, start: Callable[[], None] | None = None) -> list[R]:  # fmt: skip
    """Run `work` over the chunk numbers `chunks` in this process and in processes-1 forked children (fewer when
    there are fewer chunks; none off Linux), each process taking the next free number; return each child's
    `report()` made after its work, in the children's order. `start` runs in each child before its work; `first`
    runs here once the children have started, before this process takes its share."""
    processes = min(processes, len(chunks)) if can_fork() else 1
    if processes <= 1:
        if first is not None:
            first()
        work(iter(chunks))
        return []
    if len(chunks) > MAX_CHUNKS:
        raise ValueError(f"at most {MAX_CHUNKS} chunks can be shared out, not {len(chunks)}")
    claims, write = os.pipe()
    try:
        _write_all(write, b"".join(_TOKEN.pack(number) for number in chunks))
    finally:
        os.close(write)
    children: dict[int, int] = {}  # pid -> the read end of its report pipe
    try:
        parent = os.getpid()
        for _ in range(processes - 1):
            read, write = os.pipe()
            pid = os.fork()
            if pid == 0:  # the child
                os.close(read)
                _child(_claimed(claims, parent), write, start, work, report, list(children.values()))
            os.close(write)
            children[pid] = read
        if first is not None:
            first()
        work(_claimed(claims))
        return [_report(pid, children.pop(pid)) for pid in list(children)]
    finally:
        os.close(claims)
        for pid, read in children.items():  # this process failed: its children go too
            os.close(read)
            _end(pid)


def _claimed(claims: int, parent: int | None = None) -> Iterator[int]:
    """The chunk numbers this process takes from the shared pipe, one at a time (a read of 4 bytes from a pipe
    holding them is whole: all were written before any reader started); a child stops when its parent is gone."""
    while True:
        if parent is not None and os.getppid() != parent:
            raise RuntimeError("the render process that started this one is gone")
        data = os.read(claims, _TOKEN.size)
        if not data:
            return
        if len(data) != _TOKEN.size:
            raise RuntimeError("a chunk number was read in part")
        yield _TOKEN.unpack(data)[0]


def _child(claimed: Iterator[int], write: int, start: Callable[[], None] | None, work: Callable[[Iterator[int]], None],
           report: Callable[[], Any], others: list[int]) -> NoReturn:  # fmt: skip
    """A child's whole life: its share of the work, then its report (or its exception) into `write`, then exit."""
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        with contextlib.suppress(ValueError):
            signal.set_wakeup_fd(-1)  # the parent's signal pipe (a scheduler's) is not ours to write
        for fd in others:  # the earlier children's report pipes
            os.close(fd)
        try:
            if start is not None:
                start()
            work(claimed)
            payload = pickle.dumps(("ok", report()))
        except BaseException as exc:  # every failure goes to the parent, which raises it
            for _ in claimed:  # take the rest, so the other processes stop soon too
                pass
            payload = _failure(exc)
        _write_all(write, payload)
        code = 0
    except BaseException:  # noqa: S110 - nothing may escape a child into the parent's code
        pass
    finally:
        os._exit(code)


def _failure(exc: BaseException) -> bytes:
    """A child's exception for the parent, pickled: itself when it can be, else a RuntimeError with its words."""
    trace = "".join(traceback.format_exception(exc))
    try:
        return pickle.dumps(("error", exc, trace))
    except Exception:  # an exception that does not pickle
        return pickle.dumps(("error", RuntimeError(f"{type(exc).__name__}: {exc}"), trace))


def _report(pid: int, read: int) -> Any:
    """A child's report read whole from its pipe, then the child reaped; its exception raised here."""
    pieces = []
    try:
        while piece := os.read(read, 1 << 20):
            pieces.append(piece)
    finally:
        os.close(read)
        status = _end(pid, kill=False)
    try:
        payload = pickle.loads(b"".join(pieces))  # noqa: S301 - our own child's bytes, through our own pipe
    except Exception:  # no (whole) report: the child died
        payload = None
    if isinstance(payload, tuple) and payload[0] == "ok" and status == 0:
        return payload[1]
    if isinstance(payload, tuple) and payload[0] == "error":
        exc = payload[1]
        exc.add_note(f"in render process {pid}:\n{payload[2]}")
        raise exc
    why = f"killed by signal {-status}" if status < 0 else f"exit status {status}"
    raise RuntimeError(f"a render process ended without finishing its pages ({why})")


def _end(pid: int, kill: bool = True) -> int:
    """Reap a child (killed first when `kill`); its exit status, negative for a signal."""
    if kill:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
