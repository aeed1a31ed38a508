"""E-mail subscribers: their filters, double opt-in, secret tokens, cursors and delivery records (tables
`subscribers` and `deliveries`). Pure database work on a Connection; sending lives in trialfinder/mail/delivery.py.

A subscriber's filters mean exactly what `trialfinder digest --search/--status/--country` mean (the same
`events.EventFilter`). Its cursor is the newest change event id already covered; it starts at the newest event when
the subscription is confirmed, so a new subscriber gets what changes from then on, not the whole history.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, or_, select, update

from trialfinder import wording
from trialfinder.addresses import has_control, validate_email
from trialfinder.config import Config
from trialfinder.history.events import EventFilter, check_codes, check_searches, match_countries, newest_event_id
from trialfinder.i18n import N_, check_language
from trialfinder.models import Delivery, Subscriber

subscribers = Subscriber
deliveries = Delivery

FREQUENCIES = {"daily": dt.timedelta(days=1), "weekly": dt.timedelta(days=7)}
FREQUENCY_WORDS = {"daily": N_("daily"), "weekly": N_("weekly")}  # the e-mails say them in their language
TOKEN_BYTES = 32  # secrets.token_urlsafe(32): 256 random bits, 43 URL-safe characters


def new_token() -> str:
    """An opaque, unguessable token for confirm and unsubscribe links (256 bits)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


@dataclass(frozen=True)
class Filters:
    """What a subscriber follows; each part is 'any of', empty = no filter (like the digest's options)."""

    searches: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()

    def event_filter(self, after_id: int, until_id: int) -> EventFilter:
        """The events after the cursor, up to `until_id`, that these filters let through."""
        return EventFilter(after_id=after_id, until_id=until_id, searches=self.searches, statuses=self.statuses,
                           countries=self.countries)  # fmt: skip

    def words(self, lang: str = "en") -> list[str]:
        """The status and country filters in plain words, as `trialfinder digest` shows them."""
        return wording.filter_words(self.statuses, self.countries, lang)

    def describe(self) -> str:
        """One line for `subscribers list`."""
        parts = [f"searches {','.join(self.searches)}"] if self.searches else ["all searches"]
        parts += [f"status {','.join(self.statuses)}"] if self.statuses else []
        parts += [f"country {','.join(self.countries)}"] if self.countries else []
        return "; ".join(parts)


def parse_filters(
    config: Config,
    searches: Iterable[str] = (),
    statuses: Iterable[str] = (),
    countries: Iterable[str] = (),
    *,
    known_countries: Sequence[str] | None = None,
    strict: bool = True,
) -> Filters:
    """Checked filters; ValueError (one plain line) for an unknown search or status, or a country with control
    characters. Countries are spelt as in `known_countries` when given (any case matches); one not in it is a
    ValueError when `strict`, else kept as written (it matches once a study has a site there).
    Statuses may be comma-separated."""
    found = check_searches(config, [name.strip() for name in searches if name.strip()])
    codes = check_codes(statuses, wording.STATUS_WORDS, "--status")
    places = match_countries(_plain_countries(countries), known_countries, strict=strict)
    return Filters(tuple(s.name for s in found), codes, places)


def _plain_countries(values: Iterable[str]) -> Iterator[str]:
    """The non-blank values, each checked for control characters as it is reached (a lazy check, so errors come
    in the order of the values)."""
    for value in values:
        if has_control(value):
            raise ValueError(f"country {value!r} contains a line break or control character")
        if value.split():
            yield value


def check_frequency(value: str) -> str:
    """'daily' or 'weekly' (any case), else ValueError."""
    frequency = value.strip().lower()
    if frequency not in FREQUENCIES:
        raise ValueError(f"unknown frequency {value!r}; choose from: {', '.join(FREQUENCIES)}")
    return frequency


@dataclass(frozen=True)
class SubscriberRow:
    """A stored subscriber."""

    id: int
    email: str
    filters: Filters
    frequency: str
    status: str
    confirm_token: str | None
    unsubscribe_token: str
    cursor_event_id: int | None
    last_sent_at: dt.datetime | None
    last_error: str | None
    created_at: dt.datetime
    confirmed_at: dt.datetime | None
    unsubscribed_at: dt.datetime | None
    language: str = "en"  # of its digests and notices (trialfinder.i18n.LANGUAGES)

    @property
    def period_start(self) -> dt.datetime | None:
        """When the current period began: the last digest sent, else the confirmation."""
        return self.last_sent_at or self.confirmed_at

    def is_due(self, now: dt.datetime) -> bool:
        """Confirmed, and a whole period (1 day or 7 days) has passed since the last digest (or confirmation)."""
        start = self.period_start
        return self.status == "confirmed" and start is not None and now - start >= FREQUENCIES[self.frequency]


def _row(row: Any) -> SubscriberRow:
    return SubscriberRow(
        id=row.id, email=row.email, filters=Filters(tuple(row.searches), tuple(row.statuses), tuple(row.countries)),
        frequency=row.frequency, status=row.status, confirm_token=row.confirm_token,
        unsubscribe_token=row.unsubscribe_token, cursor_event_id=row.cursor_event_id, last_sent_at=row.last_sent_at,
        last_error=row.last_error, created_at=row.created_at, confirmed_at=row.confirmed_at,
        unsubscribed_at=row.unsubscribed_at, language=row.language,
    )  # fmt: skip


def _filter_values(filters: Filters) -> dict[str, Any]:
    return {"searches": list(filters.searches), "statuses": list(filters.statuses),
            "countries": list(filters.countries)}


def get_by_email(conn: Connection, email: str) -> SubscriberRow | None:
    """The subscriber with this (validated) address, or None."""
    row = conn.execute(select(subscribers).where(subscribers.c.email == validate_email(email))).one_or_none()
    return _row(row) if row is not None else None


def get_by_id(conn: Connection, subscriber_id: int) -> SubscriberRow | None:
    """The subscriber with this id, or None."""
    row = conn.execute(select(subscribers).where(subscribers.c.id == subscriber_id)).one_or_none()
    return _row(row) if row is not None else None


def _by_token(conn: Connection, column: str, token: str) -> SubscriberRow | None:
    if not token or len(token) > 64:
        return None
    row = conn.execute(select(subscribers).where(subscribers.c[column] == token)).one_or_none()
    return _row(row) if row is not None else None


def list_subscribers(conn: Connection) -> list[SubscriberRow]:
    """Every subscriber, oldest first."""
    return [_row(r) for r in conn.execute(select(subscribers).order_by(subscribers.c.id))]


def _confirm_values(conn: Connection, now: dt.datetime) -> dict[str, Any]:
    # confirm_sent_at: the throttle of sign-up e-mails starts again once the address is confirmed
    return {"status": "confirmed", "confirmed_at": now, "cursor_event_id": newest_event_id(conn),
            "last_sent_at": None, "last_error": None, "unsubscribed_at": None, "confirm_sent_at": None}  # fmt: skip


def add_subscriber(
    conn: Connection, email: str, filters: Filters, frequency: str, *, now: dt.datetime, language: str = "en"
) -> tuple[SubscriberRow, str]:
    """Operator add (`subscribers add`): confirmed at once. An existing address gets the new filters and
    frequency; it keeps its cursor if already confirmed. Returns (subscriber, 'added' | 'updated').
    An address that unsubscribed is a ValueError: its owner said no (they can subscribe again themselves)."""
    address, frequency = validate_email(email), check_frequency(frequency)
    existing = get_by_email(conn, address)
    if existing is not None and existing.status == "unsubscribed":
        raise ValueError(f"{address} unsubscribed on {existing.unsubscribed_at:%Y-%m-%d}; they can subscribe again "
                         "at /subscribe (or `trialfinder subscribers remove` it first)")  # fmt: skip
    values = {**_filter_values(filters), "frequency": frequency, "language": check_language(language)}
    if existing is None:
        conn.execute(insert(subscribers).values(
            email=address, **values, status="pending", confirm_token=None, unsubscribe_token=new_token(),
            created_at=now))  # fmt: skip
        outcome = "added"
    else:
        outcome = "updated"
    if existing is None or existing.status != "confirmed":
        values.update(_confirm_values(conn, now))
    conn.execute(update(subscribers).where(subscribers.c.email == address).values(**values))
    found = get_by_email(conn, address)
    assert found is not None
    return found, outcome


def request_subscription(
    conn: Connection, email: str, filters: Filters, frequency: str, *, now: dt.datetime, language: str = "en"
) -> tuple[SubscriberRow, str]:
    """Self-service subscribe (double opt-in). Returns (subscriber, what to e-mail):
    'confirm' (new, still pending, or unsubscribed before: now pending with these filters and a fresh confirm
    token) or 'already' (confirmed: nothing changes, its cursor is kept; it gets an "already subscribed" note)."""
    address, frequency = validate_email(email), check_frequency(frequency)
    existing = get_by_email(conn, address)
    values = {**_filter_values(filters), "frequency": frequency, "language": check_language(language)}
    if existing is None:
        conn.execute(insert(subscribers).values(
            email=address, **values, status="pending", confirm_token=new_token(), unsubscribe_token=new_token(),
            created_at=now))  # fmt: skip
    elif existing.status == "confirmed":
        return existing, "already"
    elif existing.status == "pending":
        conn.execute(update(subscribers).where(subscribers.c.id == existing.id).values(**values))
    else:  # unsubscribed: start over, with new tokens so old links stay dead
        conn.execute(update(subscribers).where(subscribers.c.id == existing.id).values(
            **values, status="pending", confirm_token=new_token(), unsubscribe_token=new_token(),
            cursor_event_id=None, confirmed_at=None, last_sent_at=None, last_error=None))  # fmt: skip
    found = get_by_email(conn, address)
    assert found is not None
    return found, "confirm"


# At most one sign-up e-mail (confirmation or "already subscribed" note) per address in this time, however often the
# form is sent for it: a replayed form cannot flood an inbox. The form's answer is the same either way.
NOTICE_INTERVAL = dt.timedelta(hours=1)


def claim_notice(conn: Connection, subscriber_id: int, *, now: dt.datetime) -> tuple[bool, dt.datetime | None]:
    """Claim the right to send this subscriber a sign-up e-mail now: (False, _) when one went out within
    NOTICE_INTERVAL, else (True, the previous send time) to hand to `release_notice` if sending fails.
    One guarded UPDATE, so two requests at once cannot both claim it."""
    row = conn.execute(select(subscribers.c.confirm_sent_at).where(subscribers.c.id == subscriber_id)).first()
    previous = row.confirm_sent_at if row is not None else None
    claimed = conn.execute(
        update(subscribers)
        .where(subscribers.c.id == subscriber_id)
        .where(or_(subscribers.c.confirm_sent_at.is_(None), subscribers.c.confirm_sent_at <= now - NOTICE_INTERVAL))
        .values(confirm_sent_at=now)
    ).rowcount
    return claimed == 1, previous


def release_notice(conn: Connection, subscriber_id: int, previous: dt.datetime | None) -> None:
    """Undo a claim whose e-mail could not be sent, so the next request may try again."""
    conn.execute(update(subscribers).where(subscribers.c.id == subscriber_id).values(confirm_sent_at=previous))


def confirm(conn: Connection, token: str, *, now: dt.datetime) -> SubscriberRow | None:
    """Confirm the pending subscription with this confirm token (cursor = the newest event now). Confirming twice
    is harmless; None for an unknown token or an unsubscribed subscriber."""
    found = _by_token(conn, "confirm_token", token)
    if found is None or found.status == "unsubscribed":
        return None
    if found.status == "pending":
        conn.execute(update(subscribers).where(subscribers.c.id == found.id).values(**_confirm_values(conn, now)))
    return get_by_id(conn, found.id)


def find_by_confirm_token(conn: Connection, token: str) -> SubscriberRow | None:
    """The subscriber this confirm token belongs to, or None."""
    return _by_token(conn, "confirm_token", token)


def find_by_unsubscribe_token(conn: Connection, token: str) -> SubscriberRow | None:
    """The subscriber this unsubscribe token belongs to, or None."""
    return _by_token(conn, "unsubscribe_token", token)


def unsubscribe(conn: Connection, token: str, *, now: dt.datetime) -> SubscriberRow | None:
    """Unsubscribe the one subscriber holding this token (idempotent); None for an unknown token."""
    found = _by_token(conn, "unsubscribe_token", token)
    if found is None:
        return None
    if found.status != "unsubscribed":
        conn.execute(update(subscribers).where(subscribers.c.id == found.id).values(
            status="unsubscribed", unsubscribed_at=now))  # fmt: skip
    return get_by_id(conn, found.id)


def remove_subscriber(conn: Connection, email: str) -> bool:
    """Forget a subscriber and its delivery records; False when there was none."""
    found = get_by_email(conn, email)
    if found is None:
        return False
    conn.execute(delete(deliveries).where(deliveries.c.subscriber_id == found.id))
    conn.execute(delete(subscribers).where(subscribers.c.id == found.id))
    return True


def due_subscribers(conn: Connection, now: dt.datetime) -> list[SubscriberRow]:
    """Confirmed subscribers whose period has passed, oldest first."""
    confirmed = conn.execute(select(subscribers).where(subscribers.c.status == "confirmed").order_by(subscribers.c.id))
    return [s for s in map(_row, confirmed) if s.is_due(now)]


def record_delivery(
    conn: Connection, subscriber: SubscriberRow, *, until_id: int, message_id: str, count: int, now: dt.datetime
) -> bool:
    """In the caller's transaction: the delivery row, and the cursor moved to `until_id` (with last_sent_at).
    The update only applies while the cursor is still where the message started; False if it had moved."""
    start = subscriber.cursor_event_id or 0
    moved = _advance_cursor(conn, subscriber, until_id, last_sent_at=now)
    conn.execute(insert(deliveries).values(
        subscriber_id=subscriber.id, first_event_id=start + 1, last_event_id=until_id, message_id=message_id,
        sent_at=now, event_count=count))  # fmt: skip
    return bool(moved)


def skip_unmatched(conn: Connection, subscriber: SubscriberRow, *, until_id: int) -> None:
    """Nothing after the cursor matched the filters: move the cursor past those events; the period keeps running,
    so the next matching change goes out on the next run."""
    _advance_cursor(conn, subscriber, until_id)


def _advance_cursor(conn: Connection, subscriber: SubscriberRow, until_id: int, **values: Any) -> bool:
    """Move the cursor to `until_id` (clearing last_error, setting `values`) only while it is still where this
    run found it; False if it had moved (another run got there first)."""
    moved = conn.execute(
        update(subscribers)
        .where(subscribers.c.id == subscriber.id, subscribers.c.cursor_event_id == (subscriber.cursor_event_id or 0))
        .values(cursor_event_id=until_id, last_error=None, **values)
    ).rowcount
    return bool(moved)


def record_failure(conn: Connection, subscriber_id: int, error: str) -> None:
    """Remember why the last attempt failed (shown by `subscribers list`); the cursor stays, so nothing is lost."""
    conn.execute(update(subscribers).where(subscribers.c.id == subscriber_id).values(last_error=error[:1000]))


def deliveries_of(conn: Connection, subscriber_id: int) -> list[Any]:
    """The delivery rows of one subscriber, oldest first."""
    query = select(deliveries).where(deliveries.c.subscriber_id == subscriber_id).order_by(deliveries.c.id)
    return list(conn.execute(query))
