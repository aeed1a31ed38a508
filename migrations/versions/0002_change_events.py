"""change events

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 19:29:07.437514
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "change_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("nct_id", sa.String(length=16), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("field_path", sa.Text(), nullable=True),
        sa.Column("old_value", sa.Text(), nullable=True),
        sa.Column("new_value", sa.Text(), nullable=True),
        sa.Column("detected_at", sa.DateTime(), nullable=False),
        sa.Column("last_update_posted", sa.String(length=10), nullable=True),
        sa.ForeignKeyConstraint(["nct_id"], ["studies.nct_id"], name=op.f("fk_change_events_nct_id_studies")),
        sa.ForeignKeyConstraint(["run_id"], ["sync_runs.id"], name=op.f("fk_change_events_run_id_sync_runs")),
        sa.ForeignKeyConstraint(
            ["version_id"], ["study_versions.id"], name=op.f("fk_change_events_version_id_study_versions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_events")),
    )
    with op.batch_alter_table("change_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_change_events_detected_at"), ["detected_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_change_events_kind"), ["kind"], unique=False)
        batch_op.create_index("ix_change_events_nct_id_id", ["nct_id", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_change_events_run_id"), ["run_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("change_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_change_events_run_id"))
        batch_op.drop_index("ix_change_events_nct_id_id")
        batch_op.drop_index(batch_op.f("ix_change_events_kind"))
        batch_op.drop_index(batch_op.f("ix_change_events_detected_at"))

    op.drop_table("change_events")
