"""subscriber language: the language (trialfinder.i18n.LANGUAGES) of a subscriber's digests and notices

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 15:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # every subscriber so far signed up on the English-only site
    with op.batch_alter_table("subscribers") as batch:
        batch.add_column(sa.Column("language", sa.String(length=8), nullable=False, server_default="en"))


def downgrade() -> None:
    with op.batch_alter_table("subscribers") as batch:
        batch.drop_column("language")
