"""Merge the second wave's heads (knowledge, recovery, tenancy, verify, webhooks) into one.

Revision ID: 0008
Revises: 0007_h_knowledge, 0007_h_recovery, 0007_h_tenancy, 0007_h_verify, 0007_h_webhooks
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0008"
down_revision: str | Sequence[str] | None = (
    "0007_h_knowledge",
    "0007_h_recovery",
    "0007_h_tenancy",
    "0007_h_verify",
    "0007_h_webhooks",
)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
