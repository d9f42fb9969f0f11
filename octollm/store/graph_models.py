"""Knowledge-graph tables: ``entities`` and ``relationships`` (OctoLLM's global semantic memory).

Declared on the store's ``Base`` so one metadata (and its naming convention) covers every
table; ``migrations/env.py`` imports this module to register them. Migration: ``0002``;
``tenant`` on both tables: ``0007_h_tenancy`` (rows from before it belong to ``_unowned``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Index, String, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from octollm.store.models import Base


class EntityRow(Base):
    __tablename__ = "entities"

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    tenant: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(255))
    properties: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    __table_args__ = (
        Index("ix_entities_entity_type", "entity_type"),
        Index("ix_entities_tenant", "tenant"),
        Index(
            "ix_entities_name_fts",
            text("to_tsvector('english', name)"),
            postgresql_using="gin",
        ),
        Index("ix_entities_properties", "properties", postgresql_using="gin"),
    )


class RelationshipRow(Base):
    __tablename__ = "relationships"

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    from_entity_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("entities.id", ondelete="CASCADE")
    )
    to_entity_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("entities.id", ondelete="CASCADE")
    )
    tenant: Mapped[str] = mapped_column(String(64))
    relationship_type: Mapped[str] = mapped_column(String(50))
    properties: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        Index("ix_relationships_tenant", "tenant"),
        Index("ix_relationships_from_entity_id", "from_entity_id"),
        Index("ix_relationships_to_entity_id", "to_entity_id"),
        Index("ix_relationships_relationship_type", "relationship_type"),
    )
