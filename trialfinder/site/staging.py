"""The staging folders of `render`: `.<site>.render-<pid>-<random>` next to the site, removed when their render is
over, and at the next render when the process that made one died (kill -9, power cut) before it could."""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from trialfinder.processes import pid_alive

log = logging.getLogger(__name__)
# A staging folder without a pid in its name (made before pids were) counts as dead when it is this old.
UNNAMED_DEAD_AFTER = dt.timedelta(days=1)


def make_staging(out_dir: Path) -> Path:
    """A new empty staging folder next to where the site really goes (through any symlink), so every move of a
    staged file into the site is a rename on one file system."""
    return Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.render-{os.getpid()}-", dir=out_dir.resolve().parent))


def write_staged(path: Path, text: str | bytes) -> None:
    """Write one file of a staging folder whole: UTF-8 text or bytes, by the os module's calls (open() builds a
    buffered file object for one write: 0.13 against 0.05 ms a file; a first render writes 15,000)."""
    handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o666)
    try:
        write_all(handle, text.encode("utf-8") if isinstance(text, str) else text)
    finally:
        os.close(handle)


def write_all(fd: int, data: bytes) -> None:
    """Write all of `data` to the file descriptor `fd` (os.write may take only part of it)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def remove_dead_stagings(out_dir: Path) -> list[Path]:
    """Delete the staging folders of renders whose process is gone; returns them."""
    parent = out_dir.resolve().parent
    pattern = re.compile(rf"\.{re.escape(out_dir.name)}\.render-(?:(\d+)-)?[^/]*")
    removed = []
    for path in parent.glob(f".{glob_escape(out_dir.name)}.render-*") if parent.is_dir() else ():
        match = pattern.fullmatch(path.name)
        if match is None or not path.is_dir() or path.is_symlink():
            continue
        pid = match.group(1)  # mkdtemp's random part has no "-", so a "<digits>-" after "render-" is the pid
        if pid is not None:
            dead = not pid_alive(int(pid))
        else:
            dead = time.time() - path.stat().st_mtime > UNNAMED_DEAD_AFTER.total_seconds()
        if dead:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    if removed:
        log.info("removed %d staging folders left by renders that did not finish", len(removed))
    return removed


def glob_escape(name: str) -> str:
    """`name` with glob's special characters taken literally."""
    return re.sub(r"([*?\[])", r"[\1]", name)
