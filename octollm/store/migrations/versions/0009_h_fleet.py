"""fleet: the pgvector table of the arms' vector memory (memory.vector_backend = "pgvector")

Created only where the database offers the ``vector`` extension (and the migrating role may
create it): pgvector is optional, needed only by the pgvector memory backend, and that
backend creates the same schema on first use (``store/vectors.py: ensure_schema``) once the
extension is installed. Without it the migration says so and goes on.

Revision ID: 0009_h_fleet
Revises: 0008
Create Date: 2026-12-03 19:10:00
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from octollm.store import vectors

revision: str = "0009_h_fleet"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.execute(
        sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
    ).first() is None:
        print(f"0009_h_fleet: no memory_vectors table: {vectors.MISSING}", file=sys.stderr)
        return
    try:
        with bind.begin_nested():  # a role that may not create the extension: go on without
            for statement in vectors.SCHEMA:
                bind.execute(sa.text(statement))
    except sa.exc.DBAPIError as exc:
        print(f"0009_h_fleet: no memory_vectors table: {exc.orig!s}"[:300], file=sys.stderr)


def downgrade() -> None:
    op.execute(vectors.DROP)
