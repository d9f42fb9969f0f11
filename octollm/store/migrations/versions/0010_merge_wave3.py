"""Merge the third wave's heads (pgvector memory, fair dispatch) into one.

Revision ID: 0010
Revises: 0009_h_fleet, 0009_h_fairness
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0010"
down_revision: str | Sequence[str] | None = ("0009_h_fleet", "0009_h_fairness")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
