"""A sync's transaction (db.big_transaction) makes glibc serve large blocks with their own mmap, given back to the
system when freed, even after larger ones were freed: with glibc's dynamic threshold, each ~30 MB page body freed
raised it, later bodies came from the heap and a sync's peak RSS grew with its number of pages (issue 15)."""

from __future__ import annotations

import ctypes
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from tests import testdb

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc")

# In a fresh process: free a 20 MiB block (glibc's dynamic threshold rises to its size), run an empty big
# transaction, then print how much of a new 10 MiB block glibc serves with its own mmap (mallinfo2's hblkhd).
CHILD = """
import ctypes, sys
from trialfinder.db import big_transaction, make_engine

class Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                      "fsmblks", "uordblks", "fordblks", "keepcost")]

mallinfo2 = ctypes.CDLL(None).mallinfo2
mallinfo2.restype = Mallinfo2
big = b"x" * (20 << 20)
del big
engine = make_engine(sys.argv[1])
if sys.argv[2] == "sync":
    with big_transaction(engine) as conn:
        conn.exec_driver_sql("SELECT 1").all()
before = mallinfo2().hblkhd
block = b"y" * (10 << 20)
print(mallinfo2().hblkhd - before)
engine.dispose()
"""


def mmapped_bytes_of_a_new_block(tmp_path: Path, mode: str) -> int:
    env = {key: value for key, value in os.environ.items() if not key.startswith("MALLOC_")}
    done = subprocess.run([sys.executable, "-c", CHILD, testdb.url_for(tmp_path), mode], env=env,
                          capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
    return int(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(ctypes.CDLL(None), "mallinfo2"), reason="mallinfo2 (glibc 2.33)")
def test_after_a_sync_transaction_large_blocks_are_mmapped_again(tmp_path: Path) -> None:
    assert mmapped_bytes_of_a_new_block(tmp_path, "plain") < 1 << 20  # the dynamic threshold: from the heap
    assert mmapped_bytes_of_a_new_block(tmp_path, "sync") >= 10 << 20  # its own mapping, unmapped when freed
