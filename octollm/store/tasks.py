"""Task rows: create, read, move through the lifecycle. Each function takes a session."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from octollm.contracts.status import TaskStatus
from octollm.store.models import TaskRow

LIVE = ("queued", "planning", "processing")


def get(
    session: Session, task_id: str, *, tenant: str | None = None, lock: bool = False
) -> TaskRow | None:
    stmt = select(TaskRow).where(TaskRow.id == task_id)
    if tenant is not None:
        stmt = stmt.where(TaskRow.tenant == tenant)
    if lock:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).one_or_none()


def charge(session: Session, task_id: str, tokens: int, cost: float) -> tuple[int, float]:
    """Add a step's usage to the task's totals; returns the new totals."""
    row = session.execute(
        update(TaskRow)
        .where(TaskRow.id == task_id)
        .values(
            tokens_used=TaskRow.tokens_used + tokens,
            cost_usd=TaskRow.cost_usd + cost,
            updated_at=text("now()"),
        )
        .returning(TaskRow.tokens_used, TaskRow.cost_usd)
    ).one()
    return int(row.tokens_used), float(row.cost_usd)


def charge_call(
    session: Session, task_id: str, tokens: int, cost: float
) -> tuple[int, float, int, float]:
    """Add one LLM call's usage; returns (tokens_used, cost_usd, max_tokens, max_cost_usd)."""
    row = session.execute(
        update(TaskRow)
        .where(TaskRow.id == task_id)
        .values(tokens_used=TaskRow.tokens_used + tokens, cost_usd=TaskRow.cost_usd + cost)
        .returning(TaskRow.tokens_used, TaskRow.cost_usd, TaskRow.max_tokens, TaskRow.max_cost_usd)
    ).one()
    return int(row.tokens_used), float(row.cost_usd), int(row.max_tokens), float(row.max_cost_usd)


def touch(session: Session, task_id: str) -> None:
    session.execute(update(TaskRow).where(TaskRow.id == task_id).values(updated_at=text("now()")))


def move(
    session: Session,
    task_id: str,
    new: TaskStatus,
    *,
    allowed: tuple[str, ...] = LIVE,
    values: dict[str, Any] | None = None,
) -> bool:
    """Change status only from ``allowed``; False when the task was elsewhere already."""
    extra: dict[str, Any] = dict(values or {})
    if new.terminal:
        extra.setdefault("finished_at", text("now()"))
    if new is TaskStatus.PROCESSING or new is TaskStatus.PLANNING:
        extra.setdefault("started_at", text("COALESCE(started_at, now())"))
    result = session.execute(
        update(TaskRow)
        .where((TaskRow.id == task_id) & (TaskRow.status.in_(allowed)))
        .values(status=new.value, updated_at=text("now()"), **extra)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def usage(session: Session, task_id: str) -> tuple[int, float, int, float, datetime]:
    """(tokens_used, cost_usd, max_tokens, max_cost_usd, deadline)."""
    row = session.execute(
        select(
            TaskRow.tokens_used,
            TaskRow.cost_usd,
            TaskRow.max_tokens,
            TaskRow.max_cost_usd,
            TaskRow.deadline,
        ).where(TaskRow.id == task_id)
    ).one()
    return (
        int(row.tokens_used),
        float(row.cost_usd),
        int(row.max_tokens),
        float(row.max_cost_usd),
        row.deadline,
    )
