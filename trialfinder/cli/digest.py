"""`trialfinder digest` and `trialfinder feeds`: what changed, from the change events every sync records.

`digest` is a click group with `invoke_without_command=True`: without a subcommand it prints (or -o FILE) a
digest with these options; `digest send` (trialfinder/cli/subscribers.py) e-mails the subscribers theirs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import click
from sqlalchemy import Connection

from trialfinder import wording
from trialfinder.cli.common import EXIT_FAILED, EXIT_USAGE, AppContext, fail, print_or_write
from trialfinder.config import Config, SearchConfig
from trialfinder.history.events import (
    EventFilter,
    UnknownCountry,
    check_codes,
    check_searches,
    known_countries,
    load_events,
    match_countries,
)
from trialfinder.mail.digest import FORMATS, NoRunYet, check_since, digest_context, parse_since, render_digest
from trialfinder.models import utcnow
from trialfinder.site.feeds import write_feeds


@click.group(invoke_without_command=True)
@click.option("--since", default="7d", show_default=True, metavar="7d|YYYY-MM-DD|last-run",
              help="Window start: N days ago, a date (midnight UTC), or the start of the last successful sync.")
@click.option("--format", "fmt", default="text", show_default=True, metavar="text|html|markdown",
              help="Plain text, e-mail safe HTML, or Markdown.")
@click.option("--search", "search_names", multiple=True, metavar="NAME",
              help="Only studies found by this configured search (repeat for more).")
@click.option("--status", "statuses", multiple=True, metavar="STATUS",
              help="Only studies whose overall status is now STATUS, e.g. RECRUITING (repeat or comma-separate).")
@click.option("--country", "countries", multiple=True, metavar="COUNTRY",
              help="Only studies with a current site in COUNTRY, e.g. France (repeat for more).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Write the digest to FILE (replaced whole) instead of printing it.")
@click.pass_context
def digest(
    ctx: click.Context,
    since: str,
    fmt: str,
    search_names: tuple[str, ...],
    statuses: tuple[str, ...],
    countries: tuple[str, ...],
    output: Path | None,
) -> None:
    """Print what changed in the window: new studies and recruitment first, then sites, then dates and details.

    Each study is named (NCT id and short title) with every change in plain words, old → new where useful, and
    links to its ClinicalTrials.gov page and record history. An empty window says "No changes between … and …".
    `trialfinder digest send` e-mails each due subscriber its own digest instead.
    """
    if ctx.invoked_subcommand is not None:
        return
    app: AppContext = ctx.obj
    fmt = fmt.strip().lower()
    if fmt not in FORMATS:
        fail(f"unknown --format {fmt!r}; choose from: {', '.join(FORMATS)}", EXIT_USAGE)
    try:
        check_since(since)
    except ValueError as exc:
        fail(str(exc), EXIT_USAGE)
    searches = checked_searches(app.config, search_names)
    codes = checked_statuses(statuses)
    now = utcnow()
    with app.engine.connect() as conn:
        try:
            start = parse_since(since, conn, now)
        except NoRunYet as exc:
            fail(str(exc), EXIT_FAILED)
        except ValueError as exc:
            fail(str(exc), EXIT_USAGE)
        places = checked_countries(conn, countries)
        events = load_events(conn, EventFilter(start=start, end=now, searches=tuple(s.name for s in searches),
                                               statuses=codes, countries=places))  # fmt: skip
        context = digest_context(app.config, conn, events, start=start, end=now,
                                 searches=searches or app.config.searches,
                                 filters=wording.filter_words(codes, places))  # fmt: skip
    text = render_digest(context, fmt)
    if print_or_write(text, output) and not ctx.meta.get("quiet"):
        click.echo(f"wrote {output} ({context['total_events']} changes)", err=True)


@click.command()
@click.option("-o", "--output-dir", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Folder to write feed.xml and feeds/<search>.xml into  [default: [site] out_dir]")
@click.pass_context
def feeds(ctx: click.Context, output_dir: Path | None) -> None:
    """Write Atom feeds of the change events: DIR/feed.xml (all searches) and DIR/feeds/<search>.xml.

    Entry ids never change between runs, so feed readers show each change once.
    """
    app: AppContext = ctx.obj
    out_dir = output_dir if output_dir is not None else app.config.resolve_path(app.config.site.out_dir)
    try:
        paths = write_feeds(app.config, app.engine, out_dir)
    except OSError as exc:
        fail(f"cannot write the feeds to {out_dir}: {exc}", EXIT_FAILED)
    if not ctx.meta.get("quiet"):
        click.echo(f"wrote {len(paths)} feeds to {out_dir}", err=True)


def checked_searches(config: Config, names: Iterable[str]) -> list[SearchConfig]:
    """The configured searches called `names` (duplicates dropped); an unknown one is a usage error (exit 2)."""
    try:
        return check_searches(config, names)
    except ValueError as exc:
        fail(str(exc), EXIT_USAGE)


def checked_statuses(values: Iterable[str]) -> tuple[str, ...]:
    """Overall status codes (repeated or comma-separated, any case); an unknown one is a usage error (exit 2)."""
    try:
        return check_codes(values, wording.STATUS_WORDS, "--status")
    except ValueError as exc:
        fail(str(exc), EXIT_USAGE)


def checked_countries(conn: Connection, values: Sequence[str]) -> tuple[str, ...]:
    """The countries as the stored sites spell them (any case); one no site is in is a usage error (exit 2)."""
    if not values:
        return ()
    try:
        return match_countries(values, known_countries(conn))
    except UnknownCountry as exc:
        choices = ", ".join(exc.choices) or "none yet (run `trialfinder sync` first)"
        fail(f"unknown --country {exc.value!r}; countries with sites: {choices}", EXIT_USAGE)
