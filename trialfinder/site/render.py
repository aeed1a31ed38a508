"""`trialfinder render`: the static patient site, read from the database only.

Writes `index.html` (every study, with client-side filters that work on the data-* attributes of each row),
`study/<NCT id>.html` (one page per study), `changes.html` (recent change events), the Atom feeds
(`feeds.write_feeds`) and `static/site.css` + `static/site.js`. No CDN, fonts or external scripts: the folder works
from any static host and from file://.

The whole site is first rendered into a temporary sibling folder; only when every page rendered are the files
moved into place (each by an atomic rename, `index.html` last), then study pages of studies no longer in the
database are deleted. A failure while rendering leaves the previous site exactly as it was. Files that other
steps put into the folder (e.g. exports/) are left alone.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment
from sqlalchemy import Connection, Engine

from trialfinder.config import Config
from trialfinder.db import connection_of
from trialfinder.resources import templates_dir
from trialfinder.site.feeds import write_feeds
from trialfinder.site.view import Download, SiteView, build_site_view
from trialfinder.templating import make_environment

STATIC_FILES = ("site.css", "site.js")
_STUDY_PAGE = re.compile(r"NCT\d{8}\.html")


@dataclass(frozen=True)
class RenderResult:
    """What `render_site` wrote: the folder, the number of studies and pages, and every file (relative paths)."""

    out_dir: Path
    studies: int
    pages: int
    files: tuple[str, ...]
    seconds: float

    def summary(self) -> str:
        """`rendered 48 studies: 50 pages, 56 files in site/ (0.4 s)`."""
        return (f"rendered {self.studies} studies: {self.pages} pages, {len(self.files)} files in {self.out_dir} "
                f"({self.seconds:.1f} s)")  # fmt: skip


def render_site(
    config: Config,
    source: Engine | Connection,
    out_dir: Path,
    *,
    downloads: Sequence[Download] = (),
    feeds: bool = True,
) -> RenderResult:
    """Render the site into `out_dir` (created if missing) and return what was written.

    `downloads` are files to offer on the index page under "Download the data (CSV)" (hrefs relative to the
    site root); the section only shows when there are some. The Atom feeds the pages link are
    rendered and published with them, unless `feeds=False` (the pipeline writes them as a step of its own).
    """
    started = time.perf_counter()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    # next to where the files really go (through any symlink), so every move is a rename on one file system
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.render-", dir=out_dir.resolve().parent))
    try:
        with connection_of(source) as conn:
            view = build_site_view(config, conn, downloads)
            if feeds:
                write_feeds(config, conn, staging)
        pages = write_pages(make_environment(), staging, view)
        for name in STATIC_FILES:
            (staging / "static").mkdir(exist_ok=True)
            shutil.copyfile(templates_dir() / "static" / name, staging / "static" / name)
        files = _publish(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return RenderResult(out_dir, len(view.studies), pages, files, time.perf_counter() - started)


def write_pages(env: Environment, folder: Path, view: SiteView) -> int:
    """Write the index, changes and one page per study of a finished view into `folder`; returns the page count."""
    top = {**view.facts, "root": ""}
    pages = {
        "index.html": env.get_template("index.html").render(
            **top, page="index", studies=view.listed, removed=view.removed, total=len(view.listed),
            options=view.options, downloads=list(view.downloads)),
        "changes.html": env.get_template("changes.html").render(**top, page="changes", days=view.changes),
    }  # fmt: skip
    for name, text in pages.items():
        _write(folder / name, text)
    study_template = env.get_template("study.html")
    (folder / "study").mkdir()
    for study in view.studies:
        _write(folder / "study" / f"{study['nct_id']}.html",
               study_template.render(**view.facts, root="../", page="study", study=study))  # fmt: skip
    return len(pages) + len(view.studies)


def _write(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)


def _publish(staging: Path, out_dir: Path) -> tuple[str, ...]:
    """Move every staged file into out_dir (index.html last), then drop study pages that were not rendered."""
    staged = sorted(p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file())
    staged.sort(key=lambda rel: rel == "index.html")
    out_dir.mkdir(parents=True, exist_ok=True)
    for rel in staged:
        target = out_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / rel, target)
    fresh = {rel for rel in staged if rel.startswith("study/")}
    study_dir = out_dir / "study"
    for page in study_dir.iterdir() if study_dir.is_dir() else ():
        if _STUDY_PAGE.fullmatch(page.name) and f"study/{page.name}" not in fresh:
            page.unlink()
    return tuple(staged)

