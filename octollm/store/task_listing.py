"""Read-side queries for the API: a tenant's tasks page by page, a task's steps and progress.

Pages are keyset-paginated on ``(created_at, id)`` descending (index ``ix_tasks_tenant_created``):
a page never skips or repeats a row when tasks arrive while a client pages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from octollm.store.models import StepResultRow, StepRow, TaskRow


@dataclass(frozen=True)
class TaskFilter:
    tenant: str | None  # None: every tenant (operators only; the API always passes one)
    statuses: tuple[str, ...] = ()
    priorities: tuple[str, ...] = ()
    created_after: datetime | None = None
    created_before: datetime | None = None
    #: Only tasks with a step on this arm.
    arm: str | None = None
    #: A task id, or words of the goal (case-insensitive substring).
    search: str | None = None


@dataclass(frozen=True)
class Position:
    """Where the previous page ended."""

    created_at: datetime
    task_id: str


def page(
    session: Session, where: TaskFilter, limit: int, after: Position | None = None
) -> tuple[list[TaskRow], Position | None]:
    """Up to ``limit`` tasks, newest first, and the position to continue from (None: done)."""
    stmt = select(TaskRow).where(*_conditions(where))
    if where.statuses:
        stmt = stmt.where(TaskRow.status.in_(where.statuses))
    if after is not None:
        stmt = stmt.where(
            or_(
                TaskRow.created_at < after.created_at,
                and_(TaskRow.created_at == after.created_at, TaskRow.id < after.task_id),
            )
        )
    stmt = stmt.order_by(TaskRow.created_at.desc(), TaskRow.id.desc()).limit(limit + 1)
    rows = list(session.scalars(stmt))
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, Position(rows[-1].created_at, rows[-1].id)


def _conditions(where: TaskFilter) -> list[ColumnElement[bool]]:
    """Every filter but the statuses, as WHERE conditions."""
    found: list[ColumnElement[bool]] = []
    if where.tenant is not None:
        found.append(TaskRow.tenant == where.tenant)
    if where.priorities:
        found.append(TaskRow.priority.in_(where.priorities))
    if where.created_after is not None:
        found.append(TaskRow.created_at > where.created_after)
    if where.created_before is not None:
        found.append(TaskRow.created_at < where.created_before)
    if where.arm:
        found.append(exists().where(StepRow.task_id == TaskRow.id, StepRow.arm == where.arm))
    if where.search:
        words = where.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        found.append(or_(TaskRow.id == where.search, TaskRow.goal.ilike(f"%{words}%", escape="\\")))
    return found


def counts(session: Session, where: TaskFilter) -> dict[str, int]:
    """How many tasks match ``where`` (its statuses ignored), per status."""
    stmt = select(TaskRow.status, func.count()).where(*_conditions(where)).group_by(TaskRow.status)
    return {status: int(n) for status, n in session.execute(stmt)}


def steps(session: Session, task_id: str) -> list[StepRow]:
    stmt = (
        select(StepRow)
        .where(StepRow.task_id == task_id)
        .order_by(StepRow.level, StepRow.position, StepRow.step_id)
    )
    return list(session.scalars(stmt))


def results(session: Session, task_id: str) -> dict[str, StepResultRow]:
    rows = session.scalars(select(StepResultRow).where(StepResultRow.task_id == task_id))
    return {r.step_id: r for r in rows}


def statuses(session: Session, task_ids: list[str], tenant: str) -> dict[str, str]:
    if not task_ids:
        return {}
    rows = session.execute(
        select(TaskRow.id, TaskRow.status).where(TaskRow.id.in_(task_ids), TaskRow.tenant == tenant)
    )
    return {r.id: r.status for r in rows}


def provenance(results_by_step: dict[str, StepResultRow]) -> list[dict[str, Any]]:
    return [dict(r.provenance) for _, r in sorted(results_by_step.items())]
