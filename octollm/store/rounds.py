"""Rounds of a task's verify-and-repair loop, and its replans: one row each.

A *verdict* row is written every time the orchestrator judges the task's finished steps (round
1 is the first plan's result, round 2 the first repair, ...), with what it decided: ``repair``
(a new generation of the faulty sub-DAG was queued), ``complete`` or ``fail``. A *replan* row is
written when an arm asked for replanning and the planner was queued to extend the plan. Each row
names the steps it replaced (``replaced``) and the steps it queued (``steps``): the task's
*current* steps are those no row replaced.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer, String, Text, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from octollm.store.models import Base, _now


class TaskRoundRow(Base):
    """One round (``kind`` = ``verdict``) or one replan (``kind`` = ``replan``) of a task."""

    __tablename__ = "task_rounds"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(String(64), index=True)
    round: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    decision: Mapped[str] = mapped_column(String(16))
    verdict: Mapped[str | None] = mapped_column(String(16), nullable=True)
    target_step: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    replaced: Mapped[list[Any]] = mapped_column(default=list)
    steps: Mapped[list[Any]] = mapped_column(default=list)
    generation: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())


def record(session: Session, **fields: Any) -> None:
    session.execute(insert(TaskRoundRow).values(**fields))


def for_task(session: Session, task_id: str) -> list[TaskRoundRow]:
    """Every round and replan of the task, oldest first."""
    return list(
        session.scalars(
            select(TaskRoundRow).where(TaskRoundRow.task_id == task_id).order_by(TaskRoundRow.id)
        )
    )


def replaced(rounds: list[TaskRoundRow]) -> set[str]:
    """Step ids some round or replan superseded."""
    return {str(s) for r in rounds for s in r.replaced or []}


def view(row: TaskRoundRow) -> dict[str, Any]:
    """A round as the task's result lists it."""
    return {
        "round": row.round,
        "kind": row.kind,
        "decision": row.decision,
        "verdict": row.verdict,
        "target_step": row.target_step,
        "reason": row.reason,
        "failed_criteria": list((row.details or {}).get("failed_criteria", [])),
        "replaced": list(row.replaced or []),
        "steps": list(row.steps or []),
        "generation": row.generation,
        "at": row.created_at.isoformat() if row.created_at else None,
    }
