"""memory: knowledge-graph entities and relationships

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 01:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # gen_random_uuid() is built in from PostgreSQL 13; no extension needed.
    op.create_table(
        "entities",
        sa.Column(
            "id",
            postgresql.UUID(as_uuid=True),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
        ),
        sa.Column("entity_type", sa.String(length=50), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column(
            "properties",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entities")),
    )
    op.create_index("ix_entities_entity_type", "entities", ["entity_type"], unique=False)
    op.create_index(
        "ix_entities_name_fts",
        "entities",
        [sa.text("to_tsvector('english', name)")],
        unique=False,
        postgresql_using="gin",
    )
    op.create_index(
        "ix_entities_properties", "entities", ["properties"], unique=False, postgresql_using="gin"
    )
    op.create_table(
        "relationships",
        sa.Column(
            "id",
            postgresql.UUID(as_uuid=True),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
        ),
        sa.Column("from_entity_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("to_entity_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("relationship_type", sa.String(length=50), nullable=False),
        sa.Column(
            "properties",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["from_entity_id"],
            ["entities.id"],
            name=op.f("fk_relationships_from_entity_id_entities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["to_entity_id"],
            ["entities.id"],
            name=op.f("fk_relationships_to_entity_id_entities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_relationships")),
    )
    op.create_index(
        "ix_relationships_from_entity_id", "relationships", ["from_entity_id"], unique=False
    )
    op.create_index(
        "ix_relationships_to_entity_id", "relationships", ["to_entity_id"], unique=False
    )
    op.create_index(
        "ix_relationships_relationship_type", "relationships", ["relationship_type"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_relationships_relationship_type", table_name="relationships")
    op.drop_index("ix_relationships_to_entity_id", table_name="relationships")
    op.drop_index("ix_relationships_from_entity_id", table_name="relationships")
    op.drop_table("relationships")
    op.drop_index("ix_entities_properties", table_name="entities", postgresql_using="gin")
    op.drop_index("ix_entities_name_fts", table_name="entities", postgresql_using="gin")
    op.drop_index("ix_entities_entity_type", table_name="entities")
    op.drop_table("entities")
