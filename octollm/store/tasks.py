"""Task rows: create, read, move through the lifecycle. Each function takes a session."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, text, update
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


def move(
    conn: Session | Connection,
    task_id: str,
    new: TaskStatus,
    *,
    allowed: tuple[str, ...] = LIVE,
    values: dict[str, Any] | None = None,
    generation: int | None = None,
) -> bool:
    """Change status only from ``allowed`` (and, when given, only in ``generation``); False
    when the task was elsewhere already."""
    extra: dict[str, Any] = dict(values or {})
    if new.terminal:
        extra.setdefault("finished_at", text("now()"))
    if new is TaskStatus.PROCESSING or new is TaskStatus.PLANNING:
        extra.setdefault("started_at", text("COALESCE(started_at, now())"))
    where = (TaskRow.id == task_id) & (TaskRow.status.in_(allowed))
    if generation is not None:
        where &= TaskRow.generation == generation
    result = conn.execute(
        update(TaskRow).where(where).values(status=new.value, updated_at=text("now()"), **extra)
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


def tenant_of(conn: Session | Connection, task_id: str) -> str | None:
    """The tenant of task ``task_id`` (None when there is no such task): the one source of a
    unit of work's tenant (``orchestrator.tenancy``)."""
    found = conn.execute(select(TaskRow.tenant).where(TaskRow.id == task_id)).scalar()
    return str(found) if found is not None else None
