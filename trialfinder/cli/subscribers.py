"""`trialfinder subscribers add|list|remove` (the operator's side of e-mail digests) and `trialfinder digest send`."""

from __future__ import annotations

import dataclasses

import click

from trialfinder.addresses import InvalidAddress, validate_email
from trialfinder.cli.common import EXIT_FAILED, EXIT_USAGE, AppContext, fail
from trialfinder.history.events import known_countries, match_countries
from trialfinder.i18n import LANGUAGES, check_language
from trialfinder.mail import subscribers as subs
from trialfinder.mail.delivery import send_due_digests
from trialfinder.mail.mailer import EmailNotConfigured
from trialfinder.models import utcnow


@click.group()
def subscribers() -> None:
    """Manage who gets the e-mail digests (people can also subscribe themselves on `trialfinder serve`)."""


@subscribers.command("add")
@click.argument("email")
@click.option("--search", "search_names", multiple=True, metavar="NAME",
              help="Only studies found by this configured search (repeat for more) [default: all searches].")
@click.option("--status", "statuses", multiple=True, metavar="STATUS",
              help="Only studies whose overall status is then STATUS, e.g. RECRUITING (repeat or comma-separate).")
@click.option("--country", "countries", multiple=True, metavar="COUNTRY",
              help="Only studies with a current site in COUNTRY (repeat for more).")
@click.option("--frequency", default="weekly", show_default=True, type=click.Choice(sorted(subs.FREQUENCIES)),
              help="How often the digest goes out.")
@click.option("--language", default="en", show_default=True, metavar="CODE",
              help=f"The language of the digests: one of {', '.join(LANGUAGES)}.")
@click.pass_context
def add(
    ctx: click.Context,
    email: str,
    search_names: tuple[str, ...],
    statuses: tuple[str, ...],
    countries: tuple[str, ...],
    frequency: str,
    language: str,
) -> None:
    """Subscribe EMAIL, confirmed at once (the operator vouches for it; no confirmation e-mail).

    The filters mean what they mean for `trialfinder digest`. The first digest covers what changes from now on
    and goes out once a whole period (1 day or 7 days) has passed. An existing address gets the new filters and
    frequency and keeps its place; one that unsubscribed is refused (they can subscribe again themselves).
    """
    app: AppContext = ctx.obj
    try:
        address = validate_email(email)
        filters = subs.parse_filters(app.config, search_names, statuses, countries)  # bad input: before the database
        language = check_language(language.strip().lower())
    except (InvalidAddress, ValueError) as exc:
        fail(str(exc), EXIT_USAGE)
    with app.engine.connect() as conn:
        known = known_countries(conn)
    # spelt as the stored sites spell them; one without sites yet is kept as written
    filters = dataclasses.replace(filters, countries=match_countries(filters.countries, known, strict=False))
    for place in filters.countries:
        if place not in known and not ctx.meta.get("quiet"):
            click.echo(f"note: no study has a site in {place!r} yet; the filter applies once one does", err=True)
    try:
        with app.engine.begin() as conn:
            row, outcome = subs.add_subscriber(conn, address, filters, frequency, now=utcnow(), language=language)
    except ValueError as exc:
        fail(str(exc), EXIT_USAGE)
    if not ctx.meta.get("quiet"):
        click.echo(f"{outcome} {row.email}: {row.frequency}, {row.language}, {row.filters.describe()}")


@subscribers.command("list")
@click.pass_context
def list_command(ctx: click.Context) -> None:
    """One line per subscriber: address, state, frequency, filters, last digest sent, last error."""
    app: AppContext = ctx.obj
    with app.engine.connect() as conn:
        rows = subs.list_subscribers(conn)
    if not rows:
        click.echo("no subscribers yet")
        return
    for row in rows:
        sent = f"last sent {row.last_sent_at:%Y-%m-%d %H:%M} UTC" if row.last_sent_at else "nothing sent yet"
        error = f"; last attempt failed: {row.last_error}" if row.last_error else ""
        click.echo(f"{row.email}  {row.status}  {row.frequency}  {row.language}  {row.filters.describe()}  "
                   f"{sent}{error}")


@subscribers.command("remove")
@click.argument("email")
@click.pass_context
def remove(ctx: click.Context, email: str) -> None:
    """Forget EMAIL and its delivery records (to just stop the mail, the subscriber can use the unsubscribe link)."""
    app: AppContext = ctx.obj
    try:
        address = validate_email(email)
    except InvalidAddress as exc:
        fail(str(exc), EXIT_USAGE)
    with app.engine.begin() as conn:
        removed = subs.remove_subscriber(conn, address)
    if not removed:
        fail(f"no subscriber {address}", EXIT_USAGE)
    if not ctx.meta.get("quiet"):
        click.echo(f"removed {address}")


@click.command("send")
@click.option("--dry-run", is_flag=True, help="Say who would get what, without sending or recording anything.")
@click.pass_context
def digest_send(ctx: click.Context, dry_run: bool) -> None:
    """E-mail every subscriber whose period is due the changes it has not had yet that match its filters.

    Nothing is sent when nothing matched (unless [email] send_empty). A delivery is recorded, and the
    subscriber's cursor moved, right after the SMTP server accepts it; a failure is retried on the next run.
    Exit 1 when any delivery failed (the others are still sent).
    """
    app: AppContext = ctx.obj
    try:
        report = send_due_digests(app.config, app.engine, dry_run=dry_run)
    except EmailNotConfigured as exc:
        fail(str(exc), EXIT_USAGE)
    if not ctx.meta.get("quiet"):
        for outcome in report.outcomes:
            if outcome.status in ("sent", "would-send"):
                verb = "would send" if dry_run else "sent"
                click.echo(f"{verb} {outcome.email}: {outcome.subject}")
            elif outcome.status == "failed":
                click.echo(f"FAILED {outcome.email}: {outcome.error}")
        click.echo(report.summary())
    if not report.ok:
        fail(f"{report.count('failed')} digest(s) not sent; they will be retried on the next run", EXIT_FAILED)
