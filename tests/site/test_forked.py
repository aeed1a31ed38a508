"""The study pages rendered by several processes (site/forked.py): every chunk taken by exactly one process, a
child's failure raised in the parent, a failing parent taking its children with it, and the same site, byte for
byte, from one process or three, first and unchanged re-renders alike."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from tests.conftest import Project
from tests.siteworld import build_site_world
from trialfinder.models import Study, SyncRun
from trialfinder.site import forked, reuse
from trialfinder.site import render as render_module
from trialfinder.site.render import RenderResult, render_site
from trialfinder.site.view import build_site_view

pytestmark = pytest.mark.skipif(not forked.can_fork(), reason="render forks only on Linux")


def test_every_chunk_is_taken_by_exactly_one_process() -> None:
    here = os.getpid()
    done: list[tuple[int, int]] = []

    def work(claimed: Iterator[int]) -> None:
        for number in claimed:
            done.append((os.getpid(), number))
            time.sleep(0.001)  # so that each process gets some

    reports = forked.share_out(range(60), work, 3, report=lambda: list(done))
    assert len(reports) == 2
    every = [*done, *(item for report in reports for item in report)]
    assert sorted(number for _, number in every) == list(range(60))
    pids = {pid for pid, _ in every}
    assert here in pids and len(pids - {here}) >= 1


def test_one_process_or_one_chunk_runs_here() -> None:
    seen: list[int] = []

    def work(claimed: Iterator[int]) -> None:
        seen.extend(os.getpid() for _ in claimed)

    assert forked.share_out(range(5), work, 1, report=list) == []
    assert forked.share_out(range(1), work, 4, report=list) == []
    assert seen == [os.getpid()] * 6


def _pids(folder: Path) -> list[int]:
    return [int(p.name) for p in folder.iterdir() if p.name.isdigit()]


def _gone(pid: int) -> bool:
    """The child was reaped (it is no child of ours any more)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def test_a_childs_exception_is_raised_in_the_parent_with_its_traceback(tmp_path: Path) -> None:
    here = os.getpid()

    def work(claimed: Iterator[int]) -> None:
        for _ in claimed:
            if os.getpid() != here:
                (tmp_path / str(os.getpid())).touch()
                raise ValueError("the page of NCT01234567 is broken")
            time.sleep(0.01)

    with pytest.raises(ValueError, match="NCT01234567 is broken") as caught:
        forked.share_out(range(40), work, 3, report=lambda: None)
    assert any("in render process" in note and "ValueError" in note for note in caught.value.__notes__)
    assert _pids(tmp_path) and all(_gone(pid) for pid in _pids(tmp_path))


def test_a_child_that_dies_fails_the_work_in_one_line() -> None:
    here = os.getpid()

    def work(claimed: Iterator[int]) -> None:
        for _ in claimed:
            if os.getpid() != here:
                os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(0.01)

    ended = r"^a render process ended without finishing its pages \(killed by signal 9\)$"
    with pytest.raises(RuntimeError, match=ended):
        forked.share_out(range(40), work, 2, report=lambda: None)


def test_a_parent_that_fails_kills_its_children(tmp_path: Path) -> None:
    def work(claimed: Iterator[int]) -> None:
        for _ in claimed:
            (tmp_path / str(os.getpid())).touch()
            time.sleep(30)
            (tmp_path / f"finished-{os.getpid()}").touch()

    def first() -> None:
        for _ in range(500):  # until both children work on a chunk
            if len(_pids(tmp_path)) == 2:
                raise KeyboardInterrupt
            time.sleep(0.01)

    with pytest.raises(KeyboardInterrupt):
        forked.share_out(range(4), work, 3, report=lambda: None, first=first)
    assert len(_pids(tmp_path)) == 2 and all(_gone(pid) for pid in _pids(tmp_path))
    assert not list(tmp_path.glob("finished-*"))


class _Unrebuildable(Exception):
    """Pickles, but does not unpickle: its one argument is not the two its __init__ takes."""

    def __init__(self, nct_id: str, why: str) -> None:
        super().__init__(f"{nct_id}: {why}")


def test_a_childs_exception_that_cannot_cross_comes_as_its_words() -> None:
    here = os.getpid()

    def work(claimed: Iterator[int]) -> None:
        for _ in claimed:
            if os.getpid() != here:
                raise _Unrebuildable("NCT01234567", "its page is broken")
            time.sleep(0.01)

    with pytest.raises(RuntimeError) as caught:
        forked.share_out(range(40), work, 2, report=lambda: None)
    assert str(caught.value) == "_Unrebuildable: NCT01234567: its page is broken"
    assert any("_Unrebuildable" in note for note in caught.value.__notes__)


class _Stop(Exception):
    pass


def test_an_interrupted_parent_waiting_for_a_report_kills_its_children(tmp_path: Path) -> None:
    here = os.getpid()

    def work(claimed: Iterator[int]) -> None:
        if os.getpid() == here:  # this process takes nothing: it goes on to wait for the reports
            return
        for _ in claimed:
            (tmp_path / str(os.getpid())).touch()
            time.sleep(30)
            (tmp_path / f"finished-{os.getpid()}").touch()

    def interrupt() -> None:
        for _ in range(500):
            if len(_pids(tmp_path)) == 2:
                break
            time.sleep(0.01)
        time.sleep(0.2)  # the parent is reading a report by now
        os.kill(here, signal.SIGUSR1)

    def stop(_signum: int, _frame: object) -> None:
        raise _Stop

    previous = signal.signal(signal.SIGUSR1, stop)
    try:
        threading.Thread(target=interrupt, daemon=True).start()
        with pytest.raises(_Stop):
            forked.share_out(range(4), work, 3, report=lambda: None)
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert len(_pids(tmp_path)) == 2 and all(_gone(pid) for pid in _pids(tmp_path))
    assert not list(tmp_path.glob("finished-*"))


@pytest.fixture
def world(project: Project, monkeypatch: pytest.MonkeyPatch) -> Project:
    build_site_world(project)
    monkeypatch.setattr(render_module, "STUDIES_A_CHUNK", 1)  # the small world in many chunks
    return project


def render(project: Project, out: Path, processes: int, languages: tuple[str, ...] = ("en",)) -> RenderResult:
    """`render_world` with [site] render_processes (and languages) set."""
    config = project.config
    site = dataclasses.replace(config.site, render_processes=processes, languages=languages)
    return render_site(dataclasses.replace(config, site=site), project.engine(), out)


def _files(site: Path) -> dict[str, bytes]:
    """Every file, the manifest without the files' mtimes (which no two renders share)."""
    files = {}
    for path in site.rglob("*"):
        rel = path.relative_to(site).as_posix()
        if path.name == reuse.MANIFEST:
            manifest = reuse.orjson.loads(path.read_bytes())
            for entry in manifest["pages"].values():
                entry.pop("mtime_ns")
            files[rel] = reuse.orjson.dumps(manifest, option=reuse.orjson.OPT_SORT_KEYS)
        elif path.is_file():
            files[rel] = path.read_bytes()
    return files


def test_three_processes_render_the_same_site_as_one(world: Project, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    reports: list[int] = []
    real = render_module.share_out

    def share_out(*args: Any, **kwargs: Any) -> list[Any]:
        made = real(*args, **kwargs)
        reports.append(len(made))
        return made

    monkeypatch.setattr(render_module, "share_out", share_out)
    one = render(world, tmp_path / "one" / "site", 1)
    three = render(world, tmp_path / "three" / "site", 3)
    assert (one.processes, three.processes) == (1, 3) and "s in 3 processes)" in three.summary()
    assert one.summary().endswith(" s)")
    assert _files(tmp_path / "one" / "site") == _files(tmp_path / "three" / "site")
    assert one.files == three.files and one.pages == three.pages
    again = render(world, tmp_path / "three" / "site", 3)  # unchanged: every file kept, no view built, no children
    with monkeypatch.context() as patch:  # and with a view built: every per-study file is kept, in one process
        patch.setattr(reuse.PageReuse, "keep_all", lambda _self: False)
        again_one = render(world, tmp_path / "one" / "site", 1)
    assert again.kept == again_one.kept > 3 * len(list((tmp_path / "one" / "site" / "study").iterdir()))
    with world.engine().begin() as conn:  # new footer facts, and the first study changed: its files render again,
        conn.execute(update(SyncRun).values(data_timestamp="2026-11-27T09:00:00.000"))  # so the rest is shared out
        first = build_site_view(world.config, conn).studies[0]["nct_id"]
        conn.execute(update(Study).where(Study.c.nct_id == first).values(brief_title="A new title"))
    facts = render(world, tmp_path / "three" / "site", 3)
    fresh = render(world, tmp_path / "fresh" / "site", 1)
    assert facts.kept > 0 and _files(tmp_path / "three" / "site") == _files(tmp_path / "fresh" / "site")
    assert fresh.kept == 0
    assert reports == [0, 2, 0, 2, 0]  # the children wrote the new facts into the kept pages
    with world.engine().begin() as conn:  # a new month: the study pages with a timeline render again, the rest kept
        conn.execute(update(SyncRun).values(finished_at=dt.datetime(2026, 12, 2, 9, 1, tzinfo=dt.UTC)))
        first = build_site_view(world.config, conn).studies[0]["nct_id"]
    month = render(world, tmp_path / "three" / "site", 3)
    render(world, tmp_path / "fresh" / "site", 1)
    assert _files(tmp_path / "three" / "site") == _files(tmp_path / "fresh" / "site") and month.kept > 0
    timeline = 'class="timeline-fig"' in (tmp_path / "fresh" / "site" / "study" / f"{first}.html").read_text("utf-8")
    assert reports[5:] == [2 if timeline else 0, 0]  # a third of the first chunk rendered again: shared out


def test_a_failing_page_leaves_the_site_as_it_was(world: Project, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    site = tmp_path / "out" / "site"
    render(world, site, 1)
    before = _files(site)
    with world.engine().begin() as conn:  # every page must render again
        conn.execute(update(SyncRun).values(data_timestamp="2026-11-27T09:00:00.000"))
    monkeypatch.setattr(render_module, "code_version", lambda: "other code")
    real = render_module._handout

    def handout(template: object, study: dict[str, object], *args: object) -> str:
        if study["nct_id"] == "NCT00967785":
            raise RuntimeError("this handout cannot be rendered")
        return real(template, study, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(render_module, "_handout", handout)
    with pytest.raises(RuntimeError, match="this handout cannot be rendered"):
        render(world, site, 3)
    assert _files(site) == before
    assert not list(site.parent.glob(".site.render-*"))


def test_a_render_in_a_worker_thread_forks_too(world: Project, tmp_path: Path) -> None:
    """The scheduler runs the pipeline in a thread of its pool: a child forked from there works the same."""
    one = render(world, tmp_path / "one" / "site", 1)
    done: list[RenderResult] = []
    thread = threading.Thread(target=lambda: done.append(render(world, tmp_path / "three" / "site", 3)))
    thread.start()
    thread.join(120)
    assert done and done[0].files == one.files
    assert _files(tmp_path / "one" / "site") == _files(tmp_path / "three" / "site")


def test_each_language_is_shared_out_and_comes_out_the_same(world: Project, tmp_path: Path) -> None:
    both = ("en", "fr")
    one = render(world, tmp_path / "one" / "site", 1, both)
    three = render(world, tmp_path / "three" / "site", 3, both)
    assert one.files == three.files and any(rel.startswith("fr/study/") for rel in three.files)
    assert _files(tmp_path / "one" / "site") == _files(tmp_path / "three" / "site")
