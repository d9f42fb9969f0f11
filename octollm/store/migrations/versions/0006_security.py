"""security: the security_events table (refused capability tokens); merges the heads

Revision ID: 0006
Revises: 0002, 0003, 0004, 0005
Create Date: 2026-11-26 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | Sequence[str] | None = ("0002", "0003", "0004", "0005")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "security_events",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("task_id", sa.String(length=64), nullable=True),
        sa.Column("step_id", sa.String(length=64), nullable=True),
        sa.Column("generation", sa.Integer(), nullable=True),
        sa.Column("arm", sa.String(length=32), nullable=True),
        sa.Column("jti", sa.String(length=64), nullable=True),
        sa.Column("message_id", sa.String(length=200), nullable=True),
        sa.Column("worker", sa.String(length=128), nullable=True),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_events")),
    )
    op.create_index(
        op.f("ix_security_events_task_id"), "security_events", ["task_id"], unique=False
    )
    op.create_index(
        "ix_security_events_kind_created", "security_events", ["kind", "created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_security_events_kind_created", table_name="security_events")
    op.drop_index(op.f("ix_security_events_task_id"), table_name="security_events")
    op.drop_table("security_events")
