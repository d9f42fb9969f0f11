"""fairness: per-tenant limits and the fair dispatcher's virtual times

Revision ID: 0009_h_fairness
Revises: 0008
Create Date: 2026-12-03 19:10:00

``tenant_limits``: one row per tenant with a weight (its share of the dispatcher) and optional
limits (running steps overall and per arm, unfinished tasks, daily tokens and cost). A tenant
without a row has weight 1 and no limits.

``fair_passes``: the dispatcher's stride-scheduling state, one virtual time per tenant and
urgency (the tenant ``*`` row of an urgency is the urgency's global virtual time).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_h_fairness"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tenant_limits",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("weight", sa.Float(), server_default="1", nullable=False),
        sa.Column("max_running", sa.Integer(), nullable=True),
        sa.Column("max_running_per_arm", sa.Integer(), nullable=True),
        sa.Column("max_queued_tasks", sa.Integer(), nullable=True),
        sa.Column("daily_tokens", sa.BigInteger(), nullable=True),
        sa.Column("daily_cost_usd", sa.Numeric(14, 6), nullable=True),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("tenant", name=op.f("pk_tenant_limits")),
    )
    op.create_table(
        "fair_passes",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("urgency", sa.String(length=16), nullable=False),
        sa.Column("pass", sa.Float(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("tenant", "urgency", name=op.f("pk_fair_passes")),
    )


def downgrade() -> None:
    op.drop_table("fair_passes")
    op.drop_table("tenant_limits")
