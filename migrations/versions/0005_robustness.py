"""robustness: skipped records and unchecked removals to retry, pipeline-run holders, confirmation throttle

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 12:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("studies_skipped", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("retry", sa.JSON(), nullable=True))
    with op.batch_alter_table("pipeline_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("holder", sa.String(length=200), nullable=True))
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("confirm_sent_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.drop_column("confirm_sent_at")
    with op.batch_alter_table("pipeline_runs", schema=None) as batch_op:
        batch_op.drop_column("holder")
    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.drop_column("retry")
        batch_op.drop_column("studies_skipped")
