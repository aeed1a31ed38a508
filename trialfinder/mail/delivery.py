"""`trialfinder digest send`: each due subscriber gets one e-mail of the events after its cursor that match its filters.

Delivery guarantees:
- The events of a message are those with after cursor < id <= the newest event id when the run began, so events
  recorded by a sync running at the same time wait for the next run, never fall between two.
- Right after the SMTP server accepts a message, one transaction records the delivery and moves the cursor to the
  end of that range. SMTP down, a refused login, sender or recipient: logged, remembered on the subscriber
  (`subscribers list` shows it), the cursor stays, the next run tries again; other subscribers are still served.
- The one window for a duplicate: a crash (or lost database) after the server accepted the message and before
  that transaction commits. The resend then carries the same Message-ID (it only depends on subscriber and event
  range), so most mail clients show it once.
- Nothing matched: no e-mail (unless [email] send_empty); the cursor moves past those events and the period keeps
  running, so the next matching change goes out on the next run.
- Any number of `digest send` at once (on one machine or many): each subscriber is claimed (the lease
  `digest:<id>`, trialfinder/leases.py) before its cursor is checked and its message built; a subscriber claimed
  by another sender, or served by one since this run began, is skipped. The claim of a sender that dies is taken
  over (PostgreSQL: at once; SQLite: when its lease of CLAIM_TTL_S expires).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from trialfinder import leases
from trialfinder.config import Config
from trialfinder.history.events import load_events, newest_event_id
from trialfinder.mail import subscribers as subs
from trialfinder.mail.digest import digest_context
from trialfinder.mail.mailer import (
    DeliveryError,
    SmtpSender,
    build_digest_message,
    digest_subject,
    message_id,
    page_url,
    require_sending,
)
from trialfinder.models import utcnow

log = logging.getLogger(__name__)

CLAIM_TTL_S = 120.0  # renewed while the message is built and sent


@dataclass(frozen=True)
class Outcome:
    """What happened for one due subscriber: sent | would-send | nothing-new | failed | skipped (unsubscribed or
    served by someone else since the run began)."""

    email: str
    status: str
    events: int = 0
    subject: str = ""
    message_id: str = ""
    error: str = ""


@dataclass
class SendReport:
    """Every due subscriber's outcome in one `digest send` run."""

    dry_run: bool = False
    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, status: str) -> int:
        """How many outcomes have this status."""
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def ok(self) -> bool:
        """False when any delivery failed (the pipeline marks its step failed)."""
        return self.count("failed") == 0

    def summary(self) -> str:
        """`digests: 3 due, 2 sent, 1 with nothing new, 0 failed` (or `would send` on a dry run)."""
        sent = f"{self.count('would-send')} would be sent" if self.dry_run else f"{self.count('sent')} sent"
        return (f"digests: {len(self.outcomes)} due, {sent}, {self.count('nothing-new')} with nothing new, "
                f"{self.count('failed')} failed")  # fmt: skip


def send_due_digests(
    config: Config,
    engine: Engine,
    *,
    now: dt.datetime | None = None,
    dry_run: bool = False,
    environ: Mapping[str, str] | None = None,
) -> SendReport:
    """Send every due subscriber its digest (see the module docstring for the guarantees). Raises
    mailer.EmailNotConfigured when [email] cannot send; SMTP failures are in the report (`ok` is False)."""
    require_sending(config)
    now = now or utcnow()
    report = SendReport(dry_run=dry_run)
    with engine.connect() as conn:
        due = subs.due_subscribers(conn, now)
        until_id = newest_event_id(conn)
    with SmtpSender(config, environ) as sender:
        for subscriber in due:
            report.outcomes.append(_serve(config, engine, sender, subscriber, until_id, now, dry_run))
    log.info("%s", report.summary())
    return report


def _serve(
    config: Config,
    engine: Engine,
    sender: SmtpSender,
    subscriber: subs.SubscriberRow,
    until_id: int,
    now: dt.datetime,
    dry_run: bool,
) -> Outcome:
    if dry_run:
        return _serve_claimed(config, engine, sender, subscriber, until_id, now, dry_run)
    try:
        claim = leases.acquire(engine, f"digest:{subscriber.id}", ttl_s=CLAIM_TTL_S)
    except (leases.LeaseBusy, OperationalError):
        log.info("digest to %s: another sender has it", subscriber.email)
        return Outcome(subscriber.email, "skipped")
    try:
        return _serve_claimed(config, engine, sender, subscriber, until_id, now, dry_run)
    finally:
        claim.release()


def _serve_claimed(
    config: Config,
    engine: Engine,
    sender: SmtpSender,
    subscriber: subs.SubscriberRow,
    until_id: int,
    now: dt.datetime,
    dry_run: bool,
) -> Outcome:
    cursor = subscriber.cursor_event_id or 0
    start = subscriber.period_start or now
    with engine.connect() as conn:
        current = subs.get_by_id(conn, subscriber.id)  # unsubscribed (or removed) since the run began?
        if current is None or current.status != "confirmed" or current.cursor_event_id != subscriber.cursor_event_id:
            return Outcome(subscriber.email, "skipped")
        events = load_events(conn, subscriber.filters.event_filter(cursor, until_id)) if until_id > cursor else []
        if not events and not config.email.send_empty:
            if not dry_run and until_id > cursor:
                conn.rollback()  # end the read transaction the queries above began; the write gets its own
                with conn.begin():
                    subs.skip_unmatched(conn, subscriber, until_id=until_id)
            return Outcome(subscriber.email, "nothing-new")
        # the header's window: the period, widened to the oldest event (a sync that began before confirmation)
        start = min([start, *(e.detected_at for e in events)])
        searches = [s for s in config.searches if s.name in subscriber.filters.searches] or list(config.searches)
        lang = subscriber.language
        context = digest_context(config, conn, events, start=start, end=now, searches=searches,
                                 filters=subscriber.filters.words(lang), lang=lang)  # fmt: skip
    context.update(email=subscriber.email, frequency=subscriber.frequency)
    subject = digest_subject(config, events, start, now, lang)
    # an empty digest (send_empty) covers no event: the date keeps each period's message distinct
    extra = "" if events else f"{now:%Y%m%d}"
    msg_id = message_id(config, subscriber.id, cursor + 1, until_id, extra)
    if dry_run:
        return Outcome(subscriber.email, "would-send", len(events), subject, msg_id)
    msg = build_digest_message(
        config, context, to=subscriber.email, subject=subject, msg_id=msg_id,
        unsubscribe_url=page_url(config, "unsubscribe", subscriber.unsubscribe_token),
        unsubscribe_token=subscriber.unsubscribe_token, now=now,
    )  # fmt: skip
    try:
        sender.send(msg)
    except DeliveryError as exc:
        log.warning("digest to %s not sent (will retry next run): %s", subscriber.email, exc)
        with engine.begin() as conn:
            subs.record_failure(conn, subscriber.id, str(exc))
        return Outcome(subscriber.email, "failed", len(events), subject, msg_id, str(exc))
    # accepted by the server: record it at once (the only duplicate window is a crash before this commits)
    with engine.begin() as conn:
        if not subs.record_delivery(conn, subscriber, until_id=until_id, message_id=msg_id, count=len(events),
                                    now=now):  # fmt: skip
            log.warning("the cursor of %s moved during this run (another digest send?)", subscriber.email)
    log.info("digest sent to %s: %d changes, %s", subscriber.email, len(events), msg_id)
    return Outcome(subscriber.email, "sent", len(events), subject, msg_id)
