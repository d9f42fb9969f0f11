"""``Idempotency-Key`` records: the first request with a key wins; repeats find its task.

A record older than the retention window no longer counts: the next request with that key
replaces it, as if the key were new.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from octollm.store.api_models import IdempotencyKeyRow


@dataclass(frozen=True)
class Record:
    task_id: str
    body_sha256: str


def claim(
    session: Session, tenant: str, key: str, body_sha256: str, task_id: str, ttl_hours: int
) -> Record | None:
    """Record ``key`` for ``task_id``; None when this request owns the key, otherwise the
    live record of an earlier request (whose body may differ)."""
    session.execute(
        delete(IdempotencyKeyRow).where(
            IdempotencyKeyRow.tenant == tenant,
            IdempotencyKeyRow.key == key,
            IdempotencyKeyRow.created_at < text(f"now() - interval '{int(ttl_hours)} hours'"),
        )
    )
    inserted = session.execute(
        insert(IdempotencyKeyRow)
        .values(tenant=tenant, key=key, body_sha256=body_sha256, task_id=task_id)
        .on_conflict_do_nothing(index_elements=["tenant", "key"])
        .returning(IdempotencyKeyRow.task_id)
    ).first()
    if inserted is not None:
        return None
    row = session.execute(
        select(IdempotencyKeyRow.task_id, IdempotencyKeyRow.body_sha256).where(
            IdempotencyKeyRow.tenant == tenant, IdempotencyKeyRow.key == key
        )
    ).one()
    return Record(task_id=row.task_id, body_sha256=row.body_sha256)


def release(session: Session, tenant: str, key: str, task_id: str) -> None:
    """Forget a key whose request failed before its task existed."""
    session.execute(
        delete(IdempotencyKeyRow).where(
            IdempotencyKeyRow.tenant == tenant,
            IdempotencyKeyRow.key == key,
            IdempotencyKeyRow.task_id == task_id,
        )
    )


def purge(session: Session, ttl_hours: int) -> int:
    """Delete expired records; returns how many."""
    result = session.execute(
        delete(IdempotencyKeyRow).where(
            IdempotencyKeyRow.created_at < text(f"now() - interval '{int(ttl_hours)} hours'")
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
