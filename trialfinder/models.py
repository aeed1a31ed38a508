"""The schema as SQLAlchemy Core tables: sync runs, studies (current state), every distinct version, locations,
search matches, change events, pipeline runs, leases, subscribers and deliveries.

Portable SQL only (SQLite today, PostgreSQL through the same URL). Multi-valued fields are JSON arrays. Constraint
names follow one naming convention so Alembic batch migrations can find them. Core, not ORM classes: nothing here
needs the ORM, whose import would cost every sync ~0.2 s of start-up (tests/test_startup.py keeps it out).
Each table's `info["description"]` says what a row is (Datasette's metadata shows it).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
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


metadata = MetaData(naming_convention=NAMING_CONVENTION)


SyncRun = Table(
    "sync_runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime),
    Column("status", String(16), nullable=False),  # running | succeeded | failed
    Column("mode", String(16), nullable=False),  # full | incremental
    Column("api_version", String(32)),
    Column("data_timestamp", String(32)),
    Column("since_date", String(10)),  # incremental window start (LastUpdatePostDate)
    Column("newest_update_posted", String(10)),
    Column("requests", Integer, nullable=False, default=0),
    Column("studies_seen", Integer, nullable=False, default=0),
    Column("studies_new", Integer, nullable=False, default=0),
    Column("studies_changed", Integer, nullable=False, default=0),
    Column("studies_unchanged", Integer, nullable=False, default=0),
    Column("studies_removed", Integer, nullable=False, default=0),
    Column("search_counts", JSON),  # {search: {"total": countTotal, "seen": n}}
    Column("studies_skipped", Integer),  # records that could not be stored
    # What the next run tries again: {"skipped": [{"nct_id", "search", "field", "error"}], "unchecked": [nct_id]}
    Column("retry", JSON),
    Column("error", Text),
    info={"description": (
        'One `trialfinder sync`: when, how, what the API said its data version was, and what happened.'
    )},
)


Lease = Table(
    "leases",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("holder", String(200), nullable=False),  # host:pid
    Column("run_id", Integer),  # the sync run holding the `sync` lease
    Column("since", UtcDateTime, nullable=False),
    Column("beat_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    info={"description": (
        'A named lock and who holds it (trialfinder/leases.py): `sync`, `scheduler`, `digest:<subscriber '
        'id>`.'
    )},
)


Study = Table(
    "studies",
    metadata,
    Column("nct_id", String(16), primary_key=True),
    Column("brief_title", Text),
    Column("official_title", Text),
    Column("acronym", String(100)),
    Column("overall_status", String(40), index=True),
    Column("status_verified_date", String(10)),
    Column("why_stopped", Text),
    Column("study_type", String(40)),
    Column("phases", JSON, nullable=False),
    Column("conditions", JSON, nullable=False),
    Column("keywords", JSON, nullable=False),
    Column("interventions", JSON, nullable=False),  # [{"type": "DRUG", "name": "...", "other_names": [...]}]
    Column("sponsor", Text),
    Column("sponsor_class", String(40)),
    Column("start_date", String(10)),
    Column("start_date_type", String(16)),
    Column("start_date_sort", Date),
    Column("primary_completion_date", String(10)),
    Column("primary_completion_date_type", String(16)),
    Column("primary_completion_date_sort", Date),
    Column("completion_date", String(10)),
    Column("completion_date_type", String(16)),
    Column("completion_date_sort", Date),
    Column("first_posted", String(10)),
    Column("results_first_posted", String(10)),
    Column("last_update_posted", String(10), index=True),
    Column("enrollment", Integer),
    Column("enrollment_type", String(16)),
    Column("sex", String(16)),
    Column("min_age", String(40)),
    Column("min_age_years", Float),
    Column("max_age", String(40)),
    Column("max_age_years", Float),
    Column("std_ages", JSON, nullable=False),
    Column("healthy_volunteers", Boolean),
    Column("has_results", Boolean, nullable=False, default=False),
    Column("brief_summary", Text),
    Column("eligibility_criteria", Text),
    # The study_versions row holding the current record (always the study's newest version).
    Column("current_version_id", Integer, ForeignKey("study_versions.id"), nullable=False),
    Column("content_hash", String(64), nullable=False),
    # normalize.fingerprint of the raw bytes the API last sent for this study: a page's unchanged studies are
    # found by it before they are parsed. None until a sync has seen the study's bytes.
    Column("raw_fingerprint", String(64), index=True),
    Column("first_seen", UtcDateTime, nullable=False),
    Column("last_seen", UtcDateTime, nullable=False),
    Column("last_changed", UtcDateTime, nullable=False),
    Column("removed_at", UtcDateTime),
    Column("removed_reason", String(200)),
    info={"description": (
        'The current state of one study, flattened for filtering and export; its current record is the '
        'version row `current_version_id` points at (each record is stored once, in study_versions).'
    )},
)


StudyVersion = Table(
    "study_versions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("nct_id", String(16), nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("raw_json", Text, nullable=False),
    Column("run_id", Integer, ForeignKey("sync_runs.id"), nullable=False),
    Column("last_update_posted", String(10)),
    Column("recorded_at", UtcDateTime, nullable=False),
    Index("ix_study_versions_nct_id_id", "nct_id", "id"),
    info={"description": (
        'One distinct content of one study: written only when the canonical hash changes.'
    )},
)


StudyLocation = Table(
    "study_locations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("nct_id", String(16), ForeignKey("studies.nct_id"), nullable=False, index=True),
    Column("position", Integer, nullable=False),
    Column("facility", Text),
    Column("city", String(200)),
    Column("state", String(200)),
    Column("zip", String(40)),
    Column("country", String(100), index=True),
    Column("status", String(40)),
    Column("lat", Float),
    Column("lon", Float),
    Column("contacts", JSON, nullable=False),
    info={"description": (
        'One site of a study as it currently stands (replaced whenever the study changes).'
    )},
)


StudySearch = Table(
    "study_searches",
    metadata,
    Column("nct_id", String(16), ForeignKey("studies.nct_id"), primary_key=True),
    Column("search_name", String(64), primary_key=True, index=True),
    Column("first_seen_run", Integer, ForeignKey("sync_runs.id"), nullable=False),
    Column("last_seen_run", Integer, ForeignKey("sync_runs.id"), nullable=False),
    info={"description": (
        'Which configured search found which study, and when it first and last did.'
    )},
)


ChangeEvent = Table(
    "change_events",
    metadata,
    Column("id", Integer, primary_key=True),  # grows with time: subscribers' cursors use it
    Column("run_id", Integer, ForeignKey("sync_runs.id"), nullable=False, index=True),
    Column("nct_id", String(16), ForeignKey("studies.nct_id"), nullable=False),
    Column("version_id", Integer, ForeignKey("study_versions.id")),
    Column("kind", String(32), nullable=False, index=True),
    Column("field_path", Text),
    Column("old_value", Text),
    Column("new_value", Text),
    Column("detected_at", UtcDateTime, nullable=False, index=True),
    Column("last_update_posted", String(10)),
    Index("ix_change_events_nct_id_id", "nct_id", "id"),
    info={"description": (
        "One field-level change found by diffing a study's previous and new version (or its "
        'appearance/removal).'
    )},
)


PipelineRun = Table(
    "pipeline_runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("trigger", String(32), nullable=False),  # manual | schedule | schedule-full | demo
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime),
    Column("status", String(16), nullable=False),  # running | succeeded | failed | cancelled
    Column("steps", JSON, nullable=False),  # [{"name", "status", "seconds", "detail"}]
    Column("holder", String(200)),  # host:pid of the process running it
    info={"description": (
        "One `trialfinder run` (or scheduled run): each step's outcome, for `trialfinder status`."
    )},
)


Subscriber = Table(
    "subscribers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("searches", JSON, nullable=False),  # search names; [] = every search
    Column("statuses", JSON, nullable=False),  # overall status codes; [] = any
    Column("countries", JSON, nullable=False),  # site countries; [] = any
    Column("frequency", String(16), nullable=False),  # daily | weekly
    Column("language", String(8), nullable=False, server_default='en'),  # of its e-mails: i18n.LANGUAGES
    Column("status", String(16), nullable=False, index=True),  # pending | confirmed | unsubscribed
    Column("confirm_token", String(64), unique=True),
    Column("unsubscribe_token", String(64), nullable=False, unique=True),
    Column("cursor_event_id", Integer),  # set at confirmation to the newest event id
    Column("last_sent_at", UtcDateTime),
    Column("last_error", Text),
    Column("created_at", UtcDateTime, nullable=False),
    Column("confirmed_at", UtcDateTime),
    Column("confirm_sent_at", UtcDateTime),  # the last confirmation e-mail (one an hour per address)
    Column("unsubscribed_at", UtcDateTime),
    info={"description": (
        'One e-mail digest subscription: its filters (same meaning as `trialfinder digest`), how often, its '
        'state, its secret tokens and its cursor (the newest change event id already covered).'
    )},
)


Delivery = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("subscriber_id", Integer, ForeignKey("subscribers.id"), nullable=False, index=True),
    Column("first_event_id", Integer, nullable=False),
    Column("last_event_id", Integer, nullable=False),
    Column("message_id", String(255), nullable=False),
    Column("sent_at", UtcDateTime, nullable=False),
    Column("event_count", Integer, nullable=False),
    info={"description": (
        'One digest the SMTP server accepted: for whom, which event ids it covered (first..last, inclusive, '
        'before filtering), its Message-ID and how many events it held. Written in the transaction that '
        'advances the cursor.'
    )},
)


def studies_with_records() -> Select[Any]:
    """Every `studies` column plus `raw_json`, the current record, read from the version row it points at."""
    studies, versions = Study, StudyVersion
    return select(studies, versions.c.raw_json).join(versions, versions.c.id == studies.c.current_version_id)


def utcnow() -> dt.datetime:
    """The current time, timezone-aware UTC (what every UtcDateTime column stores)."""
    return dt.datetime.now(dt.UTC)


def last_succeeded_run(conn: Connection) -> Any:
    """The newest succeeded sync run row, or None: the "data as of" every output shows."""
    runs = SyncRun
    return conn.execute(
        select(runs).where(runs.c.status == "succeeded").order_by(runs.c.id.desc()).limit(1)
    ).first()
