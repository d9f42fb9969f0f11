"""The outbox: canvases to publish, written in the transaction of the rows they drive.

A row is published after its transaction commits (``mark_published``); rows a crash left
behind are picked up by the reconciler's relay (``unpublished``), locked so that two relays
never publish the same row at once.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, insert, select, text
from sqlalchemy.orm import Session

from octollm.store.models import OutboxRow

_MARK = text("UPDATE outbox SET published_at = now() WHERE id = :id AND published_at IS NULL")


def add(conn: Session | Connection, task_id: str, payload: dict[str, Any]) -> int:
    """Write a canvas-to-be in the caller's transaction; returns the row id."""
    outbox_id = conn.execute(
        insert(OutboxRow)
        .values(task_id=task_id, kind="canvas", payload=payload)
        .returning(OutboxRow.id)
    ).scalar_one()
    return int(outbox_id)


def mark_published(conn: Session | Connection, outbox_id: int) -> None:
    """Record that the row's canvas went out (once: a later mark changes nothing)."""
    conn.execute(_MARK, {"id": outbox_id})


def unpublished(session: Session, older_than_seconds: float, limit: int) -> list[OutboxRow]:
    """Rows still unpublished ``older_than_seconds`` after their commit, oldest first, locked
    for this transaction (rows another relay holds are skipped)."""
    return list(
        session.scalars(
            select(OutboxRow)
            .where(
                OutboxRow.published_at.is_(None)
                & (
                    OutboxRow.created_at
                    < text("now() - make_interval(secs => :grace)").bindparams(
                        grace=float(older_than_seconds)
                    )
                )
            )
            .order_by(OutboxRow.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
    )


def stamp_published(row: OutboxRow) -> None:
    """Mark a row ``unpublished`` returned as published (written when its transaction commits)."""
    row.published_at = text("now()")  # type: ignore[assignment]
