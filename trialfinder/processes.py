"""Which process holds something: `host:pid` holder strings, and whether such a holder is known to have died."""

from __future__ import annotations

import os
import socket


def holder() -> str:
    """This process as `host:pid`."""
    return f"{socket.gethostname()}:{os.getpid()}"


def is_dead(value: str | None) -> bool:
    """True only when `value` names a process on this host that no longer exists (another host's is never dead)."""
    host, _, pid = (value or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    return not pid_alive(int(pid))


def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists on this host (one we may not signal exists too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
