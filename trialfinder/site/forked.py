"""A render's work shared with forked copies of its process: `share_out` runs the same work here and in the
children, each taking the next chunk number from a shared pipe until none is left, and gives back what each child
reports (the page manifest entries it made, for render's part).

Fork, not spawn: a child starts with the finished view model and the compiled templates, so nothing is pickled on
the way in, and only each child's report comes back, pickled through a pipe of its own. Linux only: elsewhere, or
with one process asked for, everything runs here. A child ignores SIGINT and SIGTERM (its parent decides: when the
parent's share_out ends by an exception, Ctrl-C included, it kills its children; a parent killed outright takes
them with it, by the kernel's parent-death signal), touches no database, writes its log lines to a stderr of its own,
and never returns into the parent's code: it ends with os._exit. A child's exception is raised in the parent as if
the work had run there, with the child's traceback as a note (one that cannot cross as itself comes as a
RuntimeError with its words), so a failing page fails the render the same way with or without children.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import logging
import math
import os
import pickle
import signal
import struct
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NoReturn, TypeVar

from trialfinder.site.staging import write_all

R = TypeVar("R")
_TOKEN = struct.Struct("=I")
# Every chunk number is written into the pipe before the children start, so they must fit its buffer (64 KiB on
# Linux, 4 bytes per number; a smaller pipe is enlarged, or the work stays in this process).
MAX_CHUNKS = 16384
_STOPPING = {signal.SIGINT, signal.SIGTERM}
_PR_SET_PDEATHSIG = 1  # prctl(2)


def usable_cores() -> int:
    """The CPUs this process may run on: its affinity, capped by a cgroup v2 CPU quota (a container's --cpus)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
    try:
        with open("/sys/fs/cgroup/cpu.max", encoding="ascii") as limits:
            quota, period = limits.read().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return cores


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
    claims = _claims_pipe(chunks) if processes > 1 else None
    if claims is None:
        if first is not None:
            first()
        work(iter(chunks))
        return []
    reads: dict[int, int] = {}  # pid -> the read end of its report pipe, until read
    alive: set[int] = set()  # pids not reaped yet
    try:
        for _ in range(processes - 1):
            _fork(claims, start, work, report, reads, alive)
        if first is not None:
            first()
        work(_claimed(claims))
        made = []
        for pid in list(reads):
            data = _read_all(reads[pid])
            os.close(reads.pop(pid))
            status = _end(pid, kill=False)
            alive.discard(pid)
            made.append(_result(pid, data, status))
        return made
    finally:  # when this process failed (or was interrupted), its children go too: all killed first, then reaped
        try:
            for pid in alive:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        finally:
            os.close(claims)
            for read in reads.values():
                os.close(read)
            for pid in alive:
                _end(pid, kill=False)


def _claims_pipe(chunks: Sequence[int]) -> int | None:
    """The read end of a pipe holding every chunk number (the write end closed), or None when they cannot all be
    put in before the children start (then the work stays in this process)."""
    if len(chunks) > MAX_CHUNKS:
        return None
    data = b"".join(_TOKEN.pack(number) for number in chunks)
    read = write = -1
    whole = False
    try:
        read, write = os.pipe()
        if fcntl.fcntl(write, fcntl.F_GETPIPE_SZ) < len(data):
            with contextlib.suppress(OSError):  # over the user's pipe quota, the kernel makes small pipes
                fcntl.fcntl(write, fcntl.F_SETPIPE_SZ, len(data))
            if fcntl.fcntl(write, fcntl.F_GETPIPE_SZ) < len(data):
                return None
        write_all(write, data)
        whole = True
        return read
    finally:
        try:
            if write >= 0:
                os.close(write)
        finally:
            if not whole and read >= 0:
                os.close(read)


def _fork(claims: int, start: Callable[[], None] | None, work: Callable[[Iterator[int]], None],
          report: Callable[[], Any], reads: dict[int, int], alive: set[int]) -> None:  # fmt: skip
    """Start a child on its share, noted in `reads` (pid -> the read end of its report pipe) and `alive`. SIGINT and
    SIGTERM are held back in this thread around the fork, so that the child ignores them before they can reach it,
    and this thread notes the child before they can interrupt it."""
    parent = os.getpid()
    held = signal.pthread_sigmask(signal.SIG_BLOCK, ())  # the mask as it is, to put back
    read = write = -1
    try:
        read, write = os.pipe()
        signal.pthread_sigmask(signal.SIG_BLOCK, _STOPPING)
        pid = os.fork()
        if pid == 0:
            try:
                _quiet(held, parent)
                os.close(read)
                for fd in reads.values():  # the earlier children's report pipes
                    os.close(fd)
                _child(_claimed(claims, parent), write, start, work, report)
            finally:
                os._exit(1)
        reads[pid] = read
        alive.add(pid)
    except BaseException:
        if read >= 0 and read not in reads.values():  # not noted: share_out will not close it
            os.close(read)
        raise
    finally:
        if os.getpid() == parent:
            try:
                if write >= 0:
                    os.close(write)
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, held)


def _quiet(held: Any, parent: int) -> None:
    """A new child's first steps: SIGINT and SIGTERM ignored (then let through), killed when its parent dies, and
    the parent's signal pipe (a scheduler's) not ours to write."""
    for number in _STOPPING:
        signal.signal(number, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_SETMASK, held)
    with contextlib.suppress(ValueError):
        signal.set_wakeup_fd(-1)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, ctypes.c_ulong(signal.SIGKILL), ctypes.c_ulong(0),
                                                ctypes.c_ulong(0), ctypes.c_ulong(0))  # fmt: skip
    if os.getppid() != parent:  # the parent died before the signal was asked for
        os._exit(1)


def _own_stderr() -> None:
    """A stderr of the child's own for its log lines (another thread of the parent may have held the old one's lock
    at the fork), line-buffered, since the child ends with os._exit."""
    old = sys.stderr
    sys.stderr = open(2, "w", buffering=1, encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115
    for handler in logging.root.handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is old:
            handler.setStream(sys.stderr)


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
           report: Callable[[], Any]) -> NoReturn:  # fmt: skip
    """A child's whole life: its share of the work, then its report (or its exception) into `write`, then exit."""
    code = 1
    try:
        try:
            _own_stderr()
            if start is not None:
                start()
            work(claimed)
            payload = pickle.dumps(("ok", report()))
        except BaseException as exc:  # every failure goes to the parent, which raises it
            for _ in claimed:  # take the rest, so the other processes stop soon too
                pass
            payload = _failure(exc)
        write_all(write, payload)
        code = 0
    except BaseException:  # noqa: S110 - nothing may escape a child into the parent's code
        pass
    finally:
        os._exit(code)


def _failure(exc: BaseException) -> bytes:
    """A child's exception for the parent, pickled: itself when it comes back as itself, else a RuntimeError with its
    words (an exception class whose arguments do not rebuild it)."""
    trace = "".join(traceback.format_exception(exc))
    try:
        data = pickle.dumps(("error", exc, trace))
        pickle.loads(data)  # noqa: S301 - our own bytes
        return data
    except Exception:  # what does not pickle, or does not unpickle
        return pickle.dumps(("error", RuntimeError(f"{type(exc).__name__}: {exc}"), trace))


def _result(pid: int, data: bytes, status: int) -> Any:
    """A child's report from the bytes it wrote and its exit status; its exception raised here."""
    try:
        payload = pickle.loads(data)  # noqa: S301 - our own child's bytes, through our own pipe
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


def _read_all(fd: int) -> bytes:
    pieces = []
    while piece := os.read(fd, 1 << 20):
        pieces.append(piece)
    return b"".join(pieces)


def _end(pid: int, kill: bool = True) -> int:
    """Reap a child (killed first when `kill`); its exit status, negative for a signal (0 when it was reaped
    already)."""
    if kill:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return 0
    return os.waitstatus_to_exitcode(status)
