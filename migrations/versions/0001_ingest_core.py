"""ingest core: sync runs, studies, versions, locations, searches

Revision ID: 0001
Revises:
Create Date: 2026-11-23 19:18:30.580390
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "studies",
        sa.Column("nct_id", sa.String(length=16), nullable=False),
        sa.Column("brief_title", sa.Text(), nullable=True),
        sa.Column("official_title", sa.Text(), nullable=True),
        sa.Column("acronym", sa.String(length=100), nullable=True),
        sa.Column("overall_status", sa.String(length=40), nullable=True),
        sa.Column("status_verified_date", sa.String(length=10), nullable=True),
        sa.Column("why_stopped", sa.Text(), nullable=True),
        sa.Column("study_type", sa.String(length=40), nullable=True),
        sa.Column("phases", sa.JSON(), nullable=False),
        sa.Column("conditions", sa.JSON(), nullable=False),
        sa.Column("keywords", sa.JSON(), nullable=False),
        sa.Column("interventions", sa.JSON(), nullable=False),
        sa.Column("sponsor", sa.Text(), nullable=True),
        sa.Column("sponsor_class", sa.String(length=40), nullable=True),
        sa.Column("start_date", sa.String(length=10), nullable=True),
        sa.Column("start_date_type", sa.String(length=16), nullable=True),
        sa.Column("start_date_sort", sa.Date(), nullable=True),
        sa.Column("primary_completion_date", sa.String(length=10), nullable=True),
        sa.Column("primary_completion_date_type", sa.String(length=16), nullable=True),
        sa.Column("primary_completion_date_sort", sa.Date(), nullable=True),
        sa.Column("completion_date", sa.String(length=10), nullable=True),
        sa.Column("completion_date_type", sa.String(length=16), nullable=True),
        sa.Column("completion_date_sort", sa.Date(), nullable=True),
        sa.Column("first_posted", sa.String(length=10), nullable=True),
        sa.Column("results_first_posted", sa.String(length=10), nullable=True),
        sa.Column("last_update_posted", sa.String(length=10), nullable=True),
        sa.Column("enrollment", sa.Integer(), nullable=True),
        sa.Column("enrollment_type", sa.String(length=16), nullable=True),
        sa.Column("sex", sa.String(length=16), nullable=True),
        sa.Column("min_age", sa.String(length=40), nullable=True),
        sa.Column("min_age_years", sa.Float(), nullable=True),
        sa.Column("max_age", sa.String(length=40), nullable=True),
        sa.Column("max_age_years", sa.Float(), nullable=True),
        sa.Column("std_ages", sa.JSON(), nullable=False),
        sa.Column("healthy_volunteers", sa.Boolean(), nullable=True),
        sa.Column("has_results", sa.Boolean(), nullable=False),
        sa.Column("brief_summary", sa.Text(), nullable=True),
        sa.Column("eligibility_criteria", sa.Text(), nullable=True),
        sa.Column("raw_json", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("first_seen", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
        sa.Column("last_changed", sa.DateTime(), nullable=False),
        sa.Column("removed_at", sa.DateTime(), nullable=True),
        sa.Column("removed_reason", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("nct_id", name=op.f("pk_studies")),
    )
    with op.batch_alter_table("studies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_studies_last_update_posted"), ["last_update_posted"], unique=False)
        batch_op.create_index(batch_op.f("ix_studies_overall_status"), ["overall_status"], unique=False)

    op.create_table(
        "sync_lock",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_lock")),
    )
    op.create_table(
        "sync_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("api_version", sa.String(length=32), nullable=True),
        sa.Column("data_timestamp", sa.String(length=32), nullable=True),
        sa.Column("since_date", sa.String(length=10), nullable=True),
        sa.Column("newest_update_posted", sa.String(length=10), nullable=True),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("studies_seen", sa.Integer(), nullable=False),
        sa.Column("studies_new", sa.Integer(), nullable=False),
        sa.Column("studies_changed", sa.Integer(), nullable=False),
        sa.Column("studies_unchanged", sa.Integer(), nullable=False),
        sa.Column("studies_removed", sa.Integer(), nullable=False),
        sa.Column("search_counts", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_runs")),
    )
    op.create_table(
        "study_locations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("nct_id", sa.String(length=16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("facility", sa.Text(), nullable=True),
        sa.Column("city", sa.String(length=200), nullable=True),
        sa.Column("state", sa.String(length=200), nullable=True),
        sa.Column("zip", sa.String(length=40), nullable=True),
        sa.Column("country", sa.String(length=100), nullable=True),
        sa.Column("status", sa.String(length=40), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("contacts", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["nct_id"], ["studies.nct_id"], name=op.f("fk_study_locations_nct_id_studies")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_study_locations")),
    )
    with op.batch_alter_table("study_locations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_study_locations_country"), ["country"], unique=False)
        batch_op.create_index(batch_op.f("ix_study_locations_nct_id"), ["nct_id"], unique=False)

    op.create_table(
        "study_searches",
        sa.Column("nct_id", sa.String(length=16), nullable=False),
        sa.Column("search_name", sa.String(length=64), nullable=False),
        sa.Column("first_seen_run", sa.Integer(), nullable=False),
        sa.Column("last_seen_run", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["first_seen_run"], ["sync_runs.id"], name=op.f("fk_study_searches_first_seen_run_sync_runs")
        ),
        sa.ForeignKeyConstraint(
            ["last_seen_run"], ["sync_runs.id"], name=op.f("fk_study_searches_last_seen_run_sync_runs")
        ),
        sa.ForeignKeyConstraint(["nct_id"], ["studies.nct_id"], name=op.f("fk_study_searches_nct_id_studies")),
        sa.PrimaryKeyConstraint("nct_id", "search_name", name=op.f("pk_study_searches")),
    )
    with op.batch_alter_table("study_searches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_study_searches_search_name"), ["search_name"], unique=False)

    op.create_table(
        "study_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("nct_id", sa.String(length=16), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("raw_json", sa.Text(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("last_update_posted", sa.String(length=10), nullable=True),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["sync_runs.id"], name=op.f("fk_study_versions_run_id_sync_runs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_study_versions")),
    )
    with op.batch_alter_table("study_versions", schema=None) as batch_op:
        batch_op.create_index("ix_study_versions_nct_id_id", ["nct_id", "id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("study_versions", schema=None) as batch_op:
        batch_op.drop_index("ix_study_versions_nct_id_id")

    op.drop_table("study_versions")
    with op.batch_alter_table("study_searches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_study_searches_search_name"))

    op.drop_table("study_searches")
    with op.batch_alter_table("study_locations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_study_locations_nct_id"))
        batch_op.drop_index(batch_op.f("ix_study_locations_country"))

    op.drop_table("study_locations")
    op.drop_table("sync_runs")
    op.drop_table("sync_lock")
    with op.batch_alter_table("studies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_studies_overall_status"))
        batch_op.drop_index(batch_op.f("ix_studies_last_update_posted"))

    op.drop_table("studies")
