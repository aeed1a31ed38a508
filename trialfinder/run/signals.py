"""How a command stops on SIGTERM or Ctrl-C: at once (a running transaction rolls back) or at the next check of a
stop request. Process plumbing for the commands (the scheduler watches its signals itself)."""

from __future__ import annotations

import signal
import threading
from types import FrameType


def raise_on_sigterm() -> None:
    """SIGTERM ends the command like Ctrl-C: the running transaction rolls back."""

    def handler(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def stop_on_sigterm() -> threading.Event:
    """An Event set by SIGTERM or Ctrl-C, for commands whose work checks it and stops cleanly."""
    stop = threading.Event()

    def handler(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop
