"""Security events: refusals the system recorded (a step message whose capability token was
missing, expired, for another arm, replayed...). Append-only; created by migration ``0006``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    DateTime,
    Index,
    Integer,
    String,
    func,
    insert,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from octollm.store.models import Base


class SecurityEventRow(Base):
    __tablename__ = "security_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    kind: Mapped[str] = mapped_column(String(32))
    task_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    step_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    generation: Mapped[int | None] = mapped_column(Integer, nullable=True)
    arm: Mapped[str | None] = mapped_column(String(32), nullable=True)
    jti: Mapped[str | None] = mapped_column(String(64), nullable=True)
    message_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    worker: Mapped[str | None] = mapped_column(String(128), nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)

    __table_args__ = (Index("ix_security_events_kind_created", "kind", "created_at"),)


def record(conn: Session | Connection, **fields: Any) -> None:
    """Append one event (columns by name; ``details`` a JSON object)."""
    fields.setdefault("details", {})
    conn.execute(insert(SecurityEventRow).values(**fields))


def for_task(session: Session, task_id: str) -> list[SecurityEventRow]:
    return list(
        session.scalars(
            select(SecurityEventRow)
            .where(SecurityEventRow.task_id == task_id)
            .order_by(SecurityEventRow.id)
        )
    )
