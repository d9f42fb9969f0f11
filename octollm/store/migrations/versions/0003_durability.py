"""durability: retry backoff visible to the reconciler, dead-letter listing index

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-25 03:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("steps", sa.Column("not_before", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_dead_letters_tenant_created", "dead_letters", ["tenant", "created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_dead_letters_tenant_created", table_name="dead_letters")
    op.drop_column("steps", "not_before")
