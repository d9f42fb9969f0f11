"""Tables the API edge owns: API keys, idempotency keys, batches, arm registrations.

Created by migration ``0004``. Keys are stored as a sha256 of the whole plaintext plus a short
public prefix used for lookup; the plaintext is shown once, at creation, and never stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKeyConstraint, Index, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from octollm.store.models import Base


def _now() -> Any:
    return func.now()


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    tenant: Mapped[str] = mapped_column(String(64), index=True)
    scopes: Mapped[list[Any]] = mapped_column()
    name: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class IdempotencyKeyRow(Base):
    """One ``Idempotency-Key`` of one tenant: the body it came with and the task it made."""

    __tablename__ = "idempotency_keys"

    tenant: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    body_sha256: Mapped[str] = mapped_column(String(64))
    task_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=_now(), index=True
    )


class BatchRow(Base):
    __tablename__ = "batches"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    total: Mapped[int] = mapped_column(Integer)
    accepted: Mapped[int] = mapped_column(Integer)
    rejected: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())

    __table_args__ = (Index("ix_batches_tenant_created", "tenant", "created_at"),)


class BatchItemRow(Base):
    """One item of a batch: the task it became, or why it was rejected."""

    __tablename__ = "batch_items"

    batch_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)

    __table_args__ = (ForeignKeyConstraint(["batch_id"], ["batches.id"], ondelete="CASCADE"),)


class ArmRegistrationRow(Base):
    """Capabilities an arm announced through ``POST /registry/arms``; ``tenant`` ``*`` is
    every tenant's (pools, an admin's registration for all), else only that tenant's."""

    __tablename__ = "arm_registrations"

    tenant: Mapped[str] = mapped_column(String(64), primary_key=True, server_default="*")
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    capabilities: Mapped[list[Any]] = mapped_column()
    description: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[str | None] = mapped_column(String(32), nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column()
    registered_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=_now(), onupdate=_now()
    )
