"""Writing output files whole or not at all: a temporary file in the same folder, renamed over the target."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

NEW_FILE_MODE = 0o644  # what a new output file gets (mkstemp alone would make it 0600, unreadable to a web server)


@contextlib.contextmanager
def open_atomic(path: Path, *, encoding: str = "utf-8", newline: str | None = "\n") -> Iterator[TextIO]:
    """A text handle on a temporary sibling of `path`, renamed over `path` when the block ends without error.

    Creates missing folders. A failure (or Ctrl-C) leaves any previous file untouched and no temporary file
    behind. The file keeps the mode of the one it replaces, else gets NEW_FILE_MODE.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding=encoding, newline=newline) as handle:
            try:
                mode = stat.S_IMODE(path.stat().st_mode)
            except FileNotFoundError:
                mode = NEW_FILE_MODE
            os.fchmod(handle.fileno(), mode)
            yield handle
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def write_text_atomic(path: Path, text: str) -> Path:
    """Write `text` (UTF-8) to `path` through a temporary sibling and a rename (see open_atomic)."""
    with open_atomic(path) as handle:
        handle.write(text)
    return path
