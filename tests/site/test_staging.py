"""Staging folders of renders that died (kill -9) are removed at the next render; live and recent ones are not."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from tests.conftest import Project


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_render_removes_the_staging_folders_of_dead_renders_only(project: Project) -> None:
    project.cli("sync")
    parent = project.path
    dead = parent / f".site.render-{dead_pid()}-abc_123"
    live = parent / f".site.render-{os.getpid()}-def456"
    old_unnamed = parent / ".site.render-zz9x1"
    new_unnamed = parent / ".site.render-yy8w2"
    other_site = parent / f".other.render-{dead_pid()}-ghi789"
    for folder in (dead, live, old_unnamed, new_unnamed, other_site):
        (folder / "study").mkdir(parents=True)
        (folder / "study" / "NCT00000001.html").write_text("half a page", encoding="utf-8")
    two_days_ago = time.time() - 2 * 86400
    os.utime(old_unnamed, (two_days_ago, two_days_ago))

    project.cli("render")
    assert not dead.exists() and not old_unnamed.exists()
    assert live.exists() and new_unnamed.exists() and other_site.exists()
    assert (parent / "site" / "index.html").exists()
    assert sorted(p.name for p in parent.glob(".site.render-*")) == sorted([live.name, new_unnamed.name])
