"""Dead-letter rows: steps that used up their attempts, kept for inspection and replay.

Rows are written in the transaction that fails the step for good, listed newest first with
filters, and locked while a replay re-opens their task (``orchestrator.recovery.deadletters``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, text, update
from sqlalchemy.orm import Session

from octollm.store.models import DeadLetterRow

MAX_LIST = 500


@dataclass(frozen=True)
class DeadLetterFilter:
    """Which dead letters to list or replay; unset fields match everything."""

    tenant: str | None = None
    task_id: str | None = None
    step_id: str | None = None
    arm: str | None = None
    reason: str | None = None
    #: None: any; False: never replayed; True: replayed at least once.
    replayed: bool | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    #: Page backwards from this id (exclusive): the smallest id of the previous page.
    before_id: int | None = None
    limit: int = 100


def add(session: Session, **fields: Any) -> None:
    """Insert a dead letter (``DeadLetterRow`` columns) in the caller's transaction."""
    session.add(DeadLetterRow(replay_count=0, **fields))


def _query(filters: DeadLetterFilter) -> Select[DeadLetterRow]:
    stmt = select(DeadLetterRow)
    equal = {
        DeadLetterRow.tenant: filters.tenant,
        DeadLetterRow.task_id: filters.task_id,
        DeadLetterRow.step_id: filters.step_id,
        DeadLetterRow.arm: filters.arm,
        DeadLetterRow.reason: filters.reason,
    }
    for column, value in equal.items():
        if value is not None:
            stmt = stmt.where(column == value)
    if filters.replayed is True:
        stmt = stmt.where(DeadLetterRow.replay_count > 0)
    elif filters.replayed is False:
        stmt = stmt.where(DeadLetterRow.replay_count == 0)
    if filters.created_after is not None:
        stmt = stmt.where(DeadLetterRow.created_at >= filters.created_after)
    if filters.created_before is not None:
        stmt = stmt.where(DeadLetterRow.created_at < filters.created_before)
    if filters.before_id is not None:
        stmt = stmt.where(DeadLetterRow.id < filters.before_id)
    return stmt.order_by(DeadLetterRow.id.desc()).limit(max(1, min(filters.limit, MAX_LIST)))


def matching(session: Session, filters: DeadLetterFilter) -> list[DeadLetterRow]:
    """Newest first, at most ``filters.limit`` (capped at ``MAX_LIST``)."""
    return list(session.scalars(_query(filters)))


def get(session: Session, dead_letter_id: int) -> DeadLetterRow | None:
    return session.get(DeadLetterRow, dead_letter_id)


def lock(session: Session, ids: Sequence[int]) -> list[DeadLetterRow]:
    """The rows with these ids, locked until the transaction ends (a replay in progress)."""
    return list(
        session.scalars(select(DeadLetterRow).where(DeadLetterRow.id.in_(ids)).with_for_update())
    )


def mark_replayed(session: Session, ids: Sequence[int], by: str) -> None:
    """Count one replay on each row, with who asked for it."""
    session.execute(
        update(DeadLetterRow)
        .where(DeadLetterRow.id.in_(ids))
        .values(
            replayed_at=text("now()"),
            replay_count=DeadLetterRow.replay_count + 1,
            replayed_by=by[:128],
        )
    )


def reread(session: Session, rows: Sequence[DeadLetterRow]) -> None:
    """Reload ``rows`` after ``mark_replayed`` (the update went past the ORM)."""
    session.flush()
    for row in rows:
        session.refresh(row)
