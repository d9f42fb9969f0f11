"""The ``documents`` table: what each tenant put into its knowledge base, and how far it got.

A document row is written where the document arrives (API or CLI), in the same transaction
as nothing else: the chunking and embedding run on the retriever pool as an ordinary task (one
``retriever`` step with ``op: ingest``), whose id the row keeps. The row holds no text (the
step's input does, once); its state is read from that task, so it cannot disagree with it:

    queued | processing   -> ingesting
    completed             -> ready      (chunks: the ingest step's output)
    failed | cancelled    -> failed     (error: the task's)

Deleting marks the row (``deleted_at``; it leaves every listing at once) and queues a retriever
``op: forget`` task that removes the chunks. Every function takes the tenant: another tenant's
document is simply not found.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Index, String, Text, func, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from octollm.store.models import Base, StepResultRow, TaskRow

INGEST_STEP = "ingest"


class DocumentRow(Base):
    __tablename__ = "documents"
    __table_args__ = (Index("ix_documents_tenant_created", "tenant", "created_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(Text)
    filename: Mapped[str | None] = mapped_column(Text, nullable=True)
    media_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    chars: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    collection: Mapped[str] = mapped_column(String(64))
    task_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    forget_task_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


@dataclass(frozen=True)
class DocumentView:
    """A document as its owner sees it."""

    id: str
    title: str
    filename: str | None
    media_type: str
    size_bytes: int
    chars: int
    sha256: str
    collection: str
    status: str  # ingesting | ready | failed
    chunks: int | None
    error: dict[str, Any] | None
    task_id: str | None
    created_at: datetime


def _status(task_status: str | None) -> str:
    if task_status == "completed":
        return "ready"
    if task_status in ("failed", "cancelled"):
        return "failed"
    return "ingesting"


def add(session: Session, row: DocumentRow) -> None:
    session.add(row)
    session.flush()


def set_task(session: Session, tenant: str, document_id: str, task_id: str) -> None:
    session.execute(
        update(DocumentRow)
        .where(DocumentRow.id == document_id, DocumentRow.tenant == tenant)
        .values(task_id=task_id)
    )


def _views(session: Session, tenant: str, ids: list[str] | None, limit: int) -> list[DocumentView]:
    query = (
        select(DocumentRow, TaskRow.status, TaskRow.error, StepResultRow.output)
        .outerjoin(TaskRow, TaskRow.id == DocumentRow.task_id)
        .outerjoin(
            StepResultRow,
            (StepResultRow.task_id == DocumentRow.task_id) & (StepResultRow.step_id == INGEST_STEP),
        )
        .where(DocumentRow.tenant == tenant, DocumentRow.deleted_at.is_(None))
        .order_by(DocumentRow.created_at.desc(), DocumentRow.id)
        .limit(limit)
    )
    if ids is not None:
        query = query.where(DocumentRow.id.in_(ids))
    views: list[DocumentView] = []
    for row, task_status, error, output in session.execute(query):
        status = _status(task_status)
        chunks = (output or {}).get("chunks") if status == "ready" else None
        views.append(
            DocumentView(
                id=row.id,
                title=row.title,
                filename=row.filename,
                media_type=row.media_type,
                size_bytes=row.size_bytes,
                chars=row.chars,
                sha256=row.sha256,
                collection=row.collection,
                status=status,
                chunks=int(chunks) if isinstance(chunks, int) else None,
                error=error if status == "failed" else None,
                task_id=row.task_id,
                created_at=row.created_at,
            )
        )
    return views


def get(session: Session, tenant: str, document_id: str) -> DocumentView | None:
    found = _views(session, tenant, [document_id], 1)
    return found[0] if found else None


def listing(session: Session, tenant: str, *, limit: int = 100) -> list[DocumentView]:
    """The tenant's documents, newest first."""
    return _views(session, tenant, None, limit)


def mark_deleted(session: Session, tenant: str, document_id: str) -> DocumentRow | None:
    """Hide the document from every listing; returns its row (None: not the tenant's/gone)."""
    return session.execute(
        update(DocumentRow)
        .where(
            DocumentRow.id == document_id,
            DocumentRow.tenant == tenant,
            DocumentRow.deleted_at.is_(None),
        )
        .values(deleted_at=datetime.now(UTC))
        .returning(DocumentRow)
    ).scalar_one_or_none()


def set_forget_task(session: Session, tenant: str, document_id: str, task_id: str) -> None:
    session.execute(
        update(DocumentRow)
        .where(DocumentRow.id == document_id, DocumentRow.tenant == tenant)
        .values(forget_task_id=task_id)
    )
