"""record once: studies.current_version_id points at the version row holding the record; studies.raw_json goes

Every stored version is kept. Each study points at its newest version whose content is its current record (the
same hash and the same text); a study whose current record is in no version row (never written that way, but the
record must not be lost) gets one first.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 15:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SAME_RECORD = ("v.nct_id = studies.nct_id AND v.content_hash = studies.content_hash "
                "AND v.raw_json = studies.raw_json")  # fmt: skip


def upgrade() -> None:
    with op.batch_alter_table("studies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("current_version_id", sa.Integer(), nullable=True))
    op.execute(
        "INSERT INTO study_versions (nct_id, content_hash, raw_json, run_id, last_update_posted, recorded_at) "
        "SELECT studies.nct_id, studies.content_hash, studies.raw_json, "
        "COALESCE((SELECT MAX(v.run_id) FROM study_versions v WHERE v.nct_id = studies.nct_id), "
        "(SELECT MAX(r.id) FROM sync_runs r)), studies.last_update_posted, studies.last_changed "
        f"FROM studies WHERE NOT EXISTS (SELECT 1 FROM study_versions v WHERE {_SAME_RECORD}) "
        "ORDER BY studies.nct_id"
    )
    op.execute(f"UPDATE studies SET current_version_id = (SELECT MAX(v.id) FROM study_versions v WHERE {_SAME_RECORD})")
    with op.batch_alter_table("studies", schema=None) as batch_op:
        batch_op.alter_column("current_version_id", existing_type=sa.Integer(), nullable=False)
        batch_op.create_foreign_key(batch_op.f("fk_studies_current_version_id_study_versions"), "study_versions",
                                    ["current_version_id"], ["id"])  # fmt: skip
        batch_op.drop_column("raw_json")


def downgrade() -> None:
    with op.batch_alter_table("studies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("raw_json", sa.Text(), nullable=True))
    op.execute("UPDATE studies SET raw_json = "
               "(SELECT v.raw_json FROM study_versions v WHERE v.id = studies.current_version_id)")
    with op.batch_alter_table("studies", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_studies_current_version_id_study_versions"), type_="foreignkey")
        batch_op.drop_column("current_version_id")
        batch_op.alter_column("raw_json", existing_type=sa.Text(), nullable=False)
