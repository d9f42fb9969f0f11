"""Step rows: claim with a lease, renew, finish, fail, requeue. Each function takes a session.

The claim is the guard that makes every delivery safe to repeat: a message claims its step only
when the step is ``queued`` (or ``running`` with an expired lease: its worker died), the
message's generation matches the row, the task is live and not cancelled, and every dependency
has finished. The attempt counter is incremented by the claim itself, before the work starts, so
a step that kills its worker is still counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from octollm.contracts.status import StepStatus
from octollm.store.models import StepResultRow, StepRow

LIVE_TASK_STATUSES = ("queued", "planning", "processing")
DONE_FOR_DEPENDANTS = ("succeeded", "failed")  # a failed step here is an optional one


@dataclass(frozen=True)
class Claim:
    task_id: str
    step_id: str
    arm: str
    action: str
    input: dict[str, Any]
    depends_on: list[str]
    critical: bool
    attempt: int
    max_attempts: int
    generation: int


_CLAIM = text(
    """
    UPDATE steps AS s
       SET status = 'running',
           attempts = s.attempts + 1,
           lease_owner = :owner,
           lease_until = now() + make_interval(secs => :lease),
           started_at = COALESCE(s.started_at, now()),
           updated_at = now()
      FROM tasks AS t
     WHERE s.task_id = :task_id AND s.step_id = :step_id AND t.id = s.task_id
       AND s.generation = :generation
       AND (s.status = 'queued' OR (s.status = 'running' AND s.lease_until < now()))
       AND t.status IN ('queued', 'planning', 'processing')
       AND NOT t.cancel_requested
       AND NOT EXISTS (
             SELECT 1 FROM steps AS p
              WHERE p.task_id = s.task_id
                AND p.step_id IN (SELECT jsonb_array_elements_text(s.depends_on))
                AND p.status NOT IN ('succeeded', 'failed'))
    RETURNING s.arm, s.action, s.input, s.depends_on, s.critical, s.attempts, s.max_attempts,
              s.generation
    """
)


def claim(
    session: Session, task_id: str, step_id: str, generation: int, owner: str, lease: float
) -> Claim | None:
    row = session.execute(
        _CLAIM,
        {
            "task_id": task_id,
            "step_id": step_id,
            "generation": generation,
            "owner": owner,
            "lease": lease,
        },
    ).one_or_none()
    if row is None:
        return None
    return Claim(
        task_id=task_id,
        step_id=step_id,
        arm=row.arm,
        action=row.action,
        input=row.input,
        depends_on=list(row.depends_on),
        critical=row.critical,
        attempt=row.attempts,
        max_attempts=row.max_attempts,
        generation=row.generation,
    )


@dataclass(frozen=True)
class StepView:
    """Why a claim failed: the step's state and its task's."""

    status: str
    generation: int
    lease_until: datetime | None
    lease_owner: str | None
    task_status: str
    cancel_requested: bool
    parents_done: bool
    seconds_to_lease_expiry: float | None


_VIEW = text(
    """
    SELECT s.status, s.generation, s.lease_until, s.lease_owner,
           t.status AS task_status, t.cancel_requested,
           NOT EXISTS (SELECT 1 FROM steps AS p
                        WHERE p.task_id = s.task_id
                          AND p.step_id IN (SELECT jsonb_array_elements_text(s.depends_on))
                          AND p.status NOT IN ('succeeded', 'failed')) AS parents_done,
           EXTRACT(EPOCH FROM (s.lease_until - now())) AS to_expiry
      FROM steps AS s JOIN tasks AS t ON t.id = s.task_id
     WHERE s.task_id = :task_id AND s.step_id = :step_id
    """
)


def view(session: Session, task_id: str, step_id: str) -> StepView | None:
    row = session.execute(_VIEW, {"task_id": task_id, "step_id": step_id}).one_or_none()
    if row is None:
        return None
    return StepView(
        status=row.status,
        generation=row.generation,
        lease_until=row.lease_until,
        lease_owner=row.lease_owner,
        task_status=row.task_status,
        cancel_requested=row.cancel_requested,
        parents_done=row.parents_done,
        seconds_to_lease_expiry=float(row.to_expiry) if row.to_expiry is not None else None,
    )


def renew_leases(session: Session, owner: str, lease: float) -> int:
    """Extend every lease ``owner`` holds; returns how many steps it is running."""
    result = session.execute(
        text(
            "UPDATE steps SET lease_until = now() + make_interval(secs => :lease) "
            "WHERE lease_owner = :owner AND status = 'running'"
        ),
        {"owner": owner, "lease": lease},
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def _held(task_id: str, step_id: str, owner: str, attempt: int) -> Any:
    return (
        (StepRow.task_id == task_id)
        & (StepRow.step_id == step_id)
        & (StepRow.status == StepStatus.RUNNING.value)
        & (StepRow.lease_owner == owner)
        & (StepRow.attempts == attempt)
    )


def succeed(
    session: Session,
    claim_: Claim,
    owner: str,
    output: dict[str, Any],
    provenance: dict[str, Any],
    tokens: int,
    cost: float,
) -> bool:
    """Record the output (upsert keyed by task and step). False when the lease was lost."""
    result = session.execute(
        update(StepRow)
        .where(_held(claim_.task_id, claim_.step_id, owner, claim_.attempt))
        .values(
            status=StepStatus.SUCCEEDED.value,
            finished_at=text("now()"),
            lease_owner=None,
            lease_until=None,
            error=None,
            tokens_used=StepRow.tokens_used + tokens,
            cost_usd=StepRow.cost_usd + cost,
        )
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    stmt = pg_insert(StepResultRow).values(
        task_id=claim_.task_id,
        step_id=claim_.step_id,
        attempt=claim_.attempt,
        output=output,
        provenance=provenance,
    )
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=[StepResultRow.task_id, StepResultRow.step_id],
            set_={
                "attempt": stmt.excluded.attempt,
                "output": stmt.excluded.output,
                "provenance": stmt.excluded.provenance,
                "updated_at": text("now()"),
            },
        )
    )
    return True


def fail(
    session: Session,
    claim_: Claim,
    owner: str | None,
    error: dict[str, Any],
    tokens: int = 0,
    cost: float = 0.0,
) -> bool:
    """Mark the claimed step failed. ``owner=None`` skips the lease check (poison handling)."""
    cond = (
        _held(claim_.task_id, claim_.step_id, owner, claim_.attempt)
        if owner is not None
        else (StepRow.task_id == claim_.task_id) & (StepRow.step_id == claim_.step_id)
    )
    result = session.execute(
        update(StepRow)
        .where(cond)
        .values(
            status=StepStatus.FAILED.value,
            finished_at=text("now()"),
            lease_owner=None,
            lease_until=None,
            error=error,
            tokens_used=StepRow.tokens_used + tokens,
            cost_usd=StepRow.cost_usd + cost,
        )
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def requeue(
    session: Session, claim_: Claim, owner: str, error: dict[str, Any], tokens: int, cost: float
) -> bool:
    """Give the step back for a retry of the same generation."""
    result = session.execute(
        update(StepRow)
        .where(_held(claim_.task_id, claim_.step_id, owner, claim_.attempt))
        .values(
            status=StepStatus.QUEUED.value,
            lease_owner=None,
            lease_until=None,
            error=error,
            queued_at=text("now()"),
            tokens_used=StepRow.tokens_used + tokens,
            cost_usd=StepRow.cost_usd + cost,
        )
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def set_status_if(
    session: Session, task_id: str, step_id: str, new: StepStatus, allowed: tuple[str, ...]
) -> bool:
    result = session.execute(
        update(StepRow)
        .where(
            (StepRow.task_id == task_id)
            & (StepRow.step_id == step_id)
            & (StepRow.status.in_(allowed))
        )
        .values(status=new.value, finished_at=text("now()"), lease_owner=None, lease_until=None)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def skip_unfinished(session: Session, task_id: str, status: StepStatus) -> list[str]:
    """Mark every not-yet-finished step of a task (failed task: skipped; cancel: cancelled)."""
    rows = session.execute(
        update(StepRow)
        .where(
            (StepRow.task_id == task_id)
            & (StepRow.status.in_(("pending", "queued")))
        )
        .values(status=status.value, finished_at=text("now()"))
        .returning(StepRow.step_id)
    ).all()
    return [r.step_id for r in rows]


def outputs(session: Session, task_id: str, step_ids: list[str]) -> dict[str, dict[str, Any]]:
    if not step_ids:
        return {}
    rows = session.execute(
        select(StepResultRow.step_id, StepResultRow.output).where(
            (StepResultRow.task_id == task_id) & (StepResultRow.step_id.in_(step_ids))
        )
    ).all()
    return {r.step_id: r.output for r in rows}


def for_task(session: Session, task_id: str) -> list[StepRow]:
    return list(
        session.scalars(
            select(StepRow).where(StepRow.task_id == task_id).order_by(StepRow.position)
        )
    )


def insert_steps(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(StepRow), rows)
