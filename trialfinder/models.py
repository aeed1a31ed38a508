"""SQLAlchemy 2 models: sync runs, studies (current state), every distinct version, locations and search matches.

Portable SQL only (SQLite today, PostgreSQL through the same URL later). Multi-valued fields are JSON arrays.
Constraint names follow one naming convention so Alembic batch migrations can find them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    Text,
    TypeDecorator,
    select,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite stores naive values; we put the zone back)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.UTC)


class Base(DeclarativeBase):
    """Declarative base carrying the naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UtcDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class SyncRun(Base):
    """One `trialfinder sync`: when, how, what the API said its data version was, and what happened."""

    __tablename__ = "sync_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None]
    status: Mapped[str] = mapped_column(String(16))  # running | succeeded | failed
    mode: Mapped[str] = mapped_column(String(16))  # full | incremental
    api_version: Mapped[str | None] = mapped_column(String(32))
    data_timestamp: Mapped[str | None] = mapped_column(String(32))
    since_date: Mapped[str | None] = mapped_column(String(10))  # incremental window start (LastUpdatePostDate)
    newest_update_posted: Mapped[str | None] = mapped_column(String(10))
    requests: Mapped[int] = mapped_column(Integer, default=0)
    studies_seen: Mapped[int] = mapped_column(Integer, default=0)
    studies_new: Mapped[int] = mapped_column(Integer, default=0)
    studies_changed: Mapped[int] = mapped_column(Integer, default=0)
    studies_unchanged: Mapped[int] = mapped_column(Integer, default=0)
    studies_removed: Mapped[int] = mapped_column(Integer, default=0)
    search_counts: Mapped[dict[str, Any] | None]  # {search: {"total": countTotal, "seen": n}}
    studies_skipped: Mapped[int | None] = mapped_column(Integer)  # records that could not be stored
    # What the next run tries again: {"skipped": [{"nct_id", "search", "field", "error"}], "unchecked": [nct_id]}
    retry: Mapped[dict[str, Any] | None]
    error: Mapped[str | None] = mapped_column(Text)


class Lease(Base):
    """A named lock and who holds it (trialfinder/leases.py): `sync`, `scheduler`, `digest:<subscriber id>`."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))  # host:pid
    run_id: Mapped[int | None] = mapped_column(Integer)  # the sync run holding the `sync` lease
    since: Mapped[dt.datetime]
    beat_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]


class Study(Base):
    """The current state of one study, flattened for filtering and export; its current record is the version row
    `current_version_id` points at (each record is stored once, in study_versions)."""

    __tablename__ = "studies"

    nct_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    brief_title: Mapped[str | None] = mapped_column(Text)
    official_title: Mapped[str | None] = mapped_column(Text)
    acronym: Mapped[str | None] = mapped_column(String(100))
    overall_status: Mapped[str | None] = mapped_column(String(40), index=True)
    status_verified_date: Mapped[str | None] = mapped_column(String(10))
    why_stopped: Mapped[str | None] = mapped_column(Text)
    study_type: Mapped[str | None] = mapped_column(String(40))
    phases: Mapped[list[Any]]
    conditions: Mapped[list[Any]]
    keywords: Mapped[list[Any]]
    interventions: Mapped[list[Any]]  # [{"type": "DRUG", "name": "...", "other_names": [...]}]
    sponsor: Mapped[str | None] = mapped_column(Text)
    sponsor_class: Mapped[str | None] = mapped_column(String(40))
    start_date: Mapped[str | None] = mapped_column(String(10))
    start_date_type: Mapped[str | None] = mapped_column(String(16))
    start_date_sort: Mapped[dt.date | None] = mapped_column(Date)
    primary_completion_date: Mapped[str | None] = mapped_column(String(10))
    primary_completion_date_type: Mapped[str | None] = mapped_column(String(16))
    primary_completion_date_sort: Mapped[dt.date | None] = mapped_column(Date)
    completion_date: Mapped[str | None] = mapped_column(String(10))
    completion_date_type: Mapped[str | None] = mapped_column(String(16))
    completion_date_sort: Mapped[dt.date | None] = mapped_column(Date)
    first_posted: Mapped[str | None] = mapped_column(String(10))
    results_first_posted: Mapped[str | None] = mapped_column(String(10))
    last_update_posted: Mapped[str | None] = mapped_column(String(10), index=True)
    enrollment: Mapped[int | None] = mapped_column(Integer)
    enrollment_type: Mapped[str | None] = mapped_column(String(16))
    sex: Mapped[str | None] = mapped_column(String(16))
    min_age: Mapped[str | None] = mapped_column(String(40))
    min_age_years: Mapped[float | None] = mapped_column(Float)
    max_age: Mapped[str | None] = mapped_column(String(40))
    max_age_years: Mapped[float | None] = mapped_column(Float)
    std_ages: Mapped[list[Any]]
    healthy_volunteers: Mapped[bool | None] = mapped_column(Boolean)
    has_results: Mapped[bool] = mapped_column(Boolean, default=False)
    brief_summary: Mapped[str | None] = mapped_column(Text)
    eligibility_criteria: Mapped[str | None] = mapped_column(Text)
    # The study_versions row holding the current record (always the study's newest version).
    current_version_id: Mapped[int] = mapped_column(ForeignKey("study_versions.id"))
    content_hash: Mapped[str] = mapped_column(String(64))
    # normalize.fingerprint of the raw bytes the API last sent for this study: a page's unchanged studies are
    # found by it before they are parsed. None until a sync has seen the study's bytes.
    raw_fingerprint: Mapped[str | None] = mapped_column(String(64), index=True)
    first_seen: Mapped[dt.datetime]
    last_seen: Mapped[dt.datetime]
    last_changed: Mapped[dt.datetime]
    removed_at: Mapped[dt.datetime | None]
    removed_reason: Mapped[str | None] = mapped_column(String(200))


class StudyVersion(Base):
    """One distinct content of one study: written only when the canonical hash changes."""

    __tablename__ = "study_versions"
    __table_args__ = (Index("ix_study_versions_nct_id_id", "nct_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    nct_id: Mapped[str] = mapped_column(String(16))
    content_hash: Mapped[str] = mapped_column(String(64))
    raw_json: Mapped[str] = mapped_column(Text)
    run_id: Mapped[int] = mapped_column(ForeignKey("sync_runs.id"))
    last_update_posted: Mapped[str | None] = mapped_column(String(10))
    recorded_at: Mapped[dt.datetime]


class StudyLocation(Base):
    """One site of a study as it currently stands (replaced whenever the study changes)."""

    __tablename__ = "study_locations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    nct_id: Mapped[str] = mapped_column(ForeignKey("studies.nct_id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    facility: Mapped[str | None] = mapped_column(Text)
    city: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str | None] = mapped_column(String(200))
    zip: Mapped[str | None] = mapped_column(String(40))
    country: Mapped[str | None] = mapped_column(String(100), index=True)
    status: Mapped[str | None] = mapped_column(String(40))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    contacts: Mapped[list[Any]]


class StudySearch(Base):
    """Which configured search found which study, and when it first and last did."""

    __tablename__ = "study_searches"

    nct_id: Mapped[str] = mapped_column(ForeignKey("studies.nct_id"), primary_key=True)
    search_name: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    first_seen_run: Mapped[int] = mapped_column(ForeignKey("sync_runs.id"))
    last_seen_run: Mapped[int] = mapped_column(ForeignKey("sync_runs.id"))


def table_of(model: type[Base]) -> Table:
    """The Core `Table` behind a model, typed for set-based SQL."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


class ChangeEvent(Base):
    """One field-level change found by diffing a study's previous and new version (or its appearance/removal)."""

    __tablename__ = "change_events"
    __table_args__ = (Index("ix_change_events_nct_id_id", "nct_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # grows with time: subscribers' cursors use it
    run_id: Mapped[int] = mapped_column(ForeignKey("sync_runs.id"), index=True)
    nct_id: Mapped[str] = mapped_column(ForeignKey("studies.nct_id"))
    version_id: Mapped[int | None] = mapped_column(ForeignKey("study_versions.id"))
    kind: Mapped[str] = mapped_column(String(32), index=True)
    field_path: Mapped[str | None] = mapped_column(Text)
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    detected_at: Mapped[dt.datetime] = mapped_column(index=True)
    last_update_posted: Mapped[str | None] = mapped_column(String(10))


class PipelineRun(Base):
    """One `trialfinder run` (or scheduled run): each step's outcome, for `trialfinder status`."""

    __tablename__ = "pipeline_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trigger: Mapped[str] = mapped_column(String(32))  # manual | schedule | schedule-full | demo
    started_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None]
    status: Mapped[str] = mapped_column(String(16))  # running | succeeded | failed | cancelled
    steps: Mapped[list[Any]]  # [{"name", "status", "seconds", "detail"}]
    holder: Mapped[str | None] = mapped_column(String(200))  # host:pid of the process running it


class Subscriber(Base):
    """One e-mail digest subscription: its filters (same meaning as `trialfinder digest`), how often, its state,
    its secret tokens and its cursor (the newest change event id already covered)."""

    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    searches: Mapped[list[Any]]  # search names; [] = every search
    statuses: Mapped[list[Any]]  # overall status codes; [] = any
    countries: Mapped[list[Any]]  # site countries; [] = any
    frequency: Mapped[str] = mapped_column(String(16))  # daily | weekly
    language: Mapped[str] = mapped_column(String(8), server_default="en")  # of its e-mails: i18n.LANGUAGES
    status: Mapped[str] = mapped_column(String(16), index=True)  # pending | confirmed | unsubscribed
    confirm_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    unsubscribe_token: Mapped[str] = mapped_column(String(64), unique=True)
    cursor_event_id: Mapped[int | None] = mapped_column(Integer)  # set at confirmation to the newest event id
    last_sent_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime]
    confirmed_at: Mapped[dt.datetime | None]
    confirm_sent_at: Mapped[dt.datetime | None]  # the last confirmation e-mail (one an hour per address)
    unsubscribed_at: Mapped[dt.datetime | None]


class Delivery(Base):
    """One digest the SMTP server accepted: for whom, which event ids it covered (first..last, inclusive, before
    filtering), its Message-ID and how many events it held. Written in the transaction that advances the cursor."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"), index=True)
    first_event_id: Mapped[int] = mapped_column(Integer)
    last_event_id: Mapped[int] = mapped_column(Integer)
    message_id: Mapped[str] = mapped_column(String(255))
    sent_at: Mapped[dt.datetime]
    event_count: Mapped[int] = mapped_column(Integer)


def studies_with_records() -> Select[Any]:
    """Every `studies` column plus `raw_json`, the current record, read from the version row it points at."""
    studies, versions = table_of(Study), table_of(StudyVersion)
    return select(studies, versions.c.raw_json).join(versions, versions.c.id == studies.c.current_version_id)


def utcnow() -> dt.datetime:
    """The current time, timezone-aware UTC (what every UtcDateTime column stores)."""
    return dt.datetime.now(dt.UTC)


def last_succeeded_run(conn: Connection) -> Any:
    """The newest succeeded sync run row, or None: the "data as of" every output shows."""
    runs = table_of(SyncRun)
    return conn.execute(
        select(runs).where(runs.c.status == "succeeded").order_by(runs.c.id.desc()).limit(1)
    ).first()
