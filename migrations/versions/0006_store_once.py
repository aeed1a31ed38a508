"""studies.raw_fingerprint: unchanged studies are recognised by their raw bytes before being parsed

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 12:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable and empty: every stored study keeps its versions and content; the next sync fills it in.
    with op.batch_alter_table("studies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("raw_fingerprint", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_studies_raw_fingerprint"), ["raw_fingerprint"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("studies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_studies_raw_fingerprint"))
        batch_op.drop_column("raw_fingerprint")
