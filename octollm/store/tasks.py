"""Task rows: create, read, move through the lifecycle. Each function takes a session."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from octollm.contracts.status import ACTIVE_TASK_STATUSES, TaskStatus
from octollm.errors import Conflict
from octollm.store.models import TaskRow


def create(conn: Session | Connection, fields: dict[str, Any]) -> None:
    """Insert a new task row (plain insert, no unit-of-work bookkeeping); ``Conflict`` when
    the id is taken (the caller's transaction is then rolled back by the raise)."""
    try:
        conn.execute(insert(TaskRow), [fields])
    except IntegrityError as exc:
        raise Conflict(f"task {fields['id']} already exists") from exc


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
    allowed: Collection[str] = ACTIVE_TASK_STATUSES,
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


def set_plan(session: Session, task_id: str, plan: dict[str, Any]) -> None:
    """Store the planner's plan and move the task to ``processing`` (its steps are queued)."""
    session.execute(
        update(TaskRow)
        .where(TaskRow.id == task_id)
        .values(plan=plan, status=TaskStatus.PROCESSING.value, updated_at=text("now()"))
    )


def set_generation(session: Session, task_id: str, generation: int) -> None:
    """Start a new generation of the task's DAG (a repair round, a replan, a re-drive)."""
    session.execute(
        update(TaskRow)
        .where(TaskRow.id == task_id)
        .values(generation=generation, updated_at=text("now()"))
    )


def reopen(session: Session, task_id: str, status: TaskStatus, deadline: datetime) -> None:
    """Make an ended task live again in ``status`` with a fresh ``deadline`` (resume, replay):
    the cancel flag, error, result and finish time are cleared."""
    session.execute(
        update(TaskRow)
        .where(TaskRow.id == task_id)
        .values(
            status=status.value,
            cancel_requested=False,
            error=None,
            result=None,
            finished_at=None,
            deadline=deadline,
            updated_at=text("now()"),
        )
    )


def cancel_state(session: Session, task_id: str) -> tuple[bool, str] | None:
    """(cancel_requested, status) of the task, None when there is no such task."""
    row = session.execute(
        select(TaskRow.cancel_requested, TaskRow.status).where(TaskRow.id == task_id)
    ).one_or_none()
    return None if row is None else (bool(row.cancel_requested), str(row.status))
