"""tenancy: arm registrations and the knowledge graph belong to a tenant

Revision ID: 0007_h_tenancy
Revises: 0006
Create Date: 2026-12-03 12:30:00

``arm_registrations`` gains ``tenant`` (``*`` = every tenant: pools' own registrations and an
admin's registration for all tenants). Existing rows become global, as they were visible to
all before. The primary key becomes ``(tenant, name)``: each tenant may describe an arm its own
way without touching another tenant's view.

``entities`` and ``relationships`` gain ``tenant`` (indexed); rows written before tenancy have
no known owner and go to ``_unowned``, which no tenant reads.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_h_tenancy"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "arm_registrations",
        sa.Column("tenant", sa.String(length=64), server_default="*", nullable=False),
    )
    op.drop_constraint("pk_arm_registrations", "arm_registrations", type_="primary")
    op.create_primary_key("pk_arm_registrations", "arm_registrations", ["tenant", "name"])
    for table in ("entities", "relationships"):
        op.add_column(
            table, sa.Column("tenant", sa.String(length=64), server_default="_unowned", nullable=False)
        )
        op.alter_column(table, "tenant", server_default=None)
        op.create_index(f"ix_{table}_tenant", table, ["tenant"], unique=False)


def downgrade() -> None:
    for table in ("relationships", "entities"):
        op.drop_index(f"ix_{table}_tenant", table_name=table)
        op.drop_column(table, "tenant")
    op.execute("DELETE FROM arm_registrations WHERE tenant <> '*'")
    op.drop_constraint("pk_arm_registrations", "arm_registrations", type_="primary")
    op.create_primary_key("pk_arm_registrations", "arm_registrations", ["name"])
    op.drop_column("arm_registrations", "tenant")
