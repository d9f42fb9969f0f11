"""Batches: one row per batch submit, one item row per submitted task (or rejection)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from octollm.store.api_models import BatchItemRow, BatchRow


@dataclass(frozen=True)
class Item:
    position: int
    task_id: str | None
    error: dict[str, Any] | None


def create(
    session: Session, batch_id: str, tenant: str, request_id: str | None, items: list[Item]
) -> BatchRow:
    accepted = sum(1 for i in items if i.task_id is not None)
    row = BatchRow(
        id=batch_id,
        tenant=tenant,
        request_id=request_id,
        total=len(items),
        accepted=accepted,
        rejected=len(items) - accepted,
    )
    session.add(row)
    session.flush()
    if items:
        session.execute(
            insert(BatchItemRow),
            [
                {
                    "batch_id": batch_id,
                    "position": i.position,
                    "task_id": i.task_id,
                    "error": i.error,
                }
                for i in items
            ],
        )
    return row


def get(session: Session, batch_id: str, tenant: str) -> tuple[BatchRow, list[Item]] | None:
    row = session.scalars(
        select(BatchRow).where(BatchRow.id == batch_id, BatchRow.tenant == tenant)
    ).one_or_none()
    if row is None:
        return None
    items = session.scalars(
        select(BatchItemRow)
        .where(BatchItemRow.batch_id == batch_id)
        .order_by(BatchItemRow.position)
    )
    return row, [Item(i.position, i.task_id, i.error) for i in items]
