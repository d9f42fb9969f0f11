"""Step rows: finish, fail, requeue, re-drive, read. Each function takes a session.

Claims and leases (the guard every delivery passes first) live in ``claims``.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, text, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from octollm.contracts.status import (
    TERMINAL_STEP_STATUSES,
    UNCLAIMED_STEP_STATUSES,
    StepStatus,
    sql_list,
)
from octollm.store.claims import Claim
from octollm.store.models import StepResultRow, StepRow


def _held(task_id: str, step_id: str, owner: str, attempt: int) -> Any:
    return (
        (StepRow.task_id == task_id)
        & (StepRow.step_id == step_id)
        & (StepRow.status == StepStatus.RUNNING.value)
        & (StepRow.lease_owner == owner)
        & (StepRow.attempts == attempt)
    )


_SUCCEED = text(
    f"""
    WITH done AS (
        UPDATE steps
           SET status = 'succeeded', finished_at = now(), lease_owner = NULL, lease_until = NULL,
               error = NULL, tokens_used = tokens_used + :tokens, cost_usd = cost_usd + :cost,
               updated_at = now()
         WHERE task_id = :task_id AND step_id = :step_id AND status = 'running'
           AND lease_owner = :owner AND attempts = :attempt
        RETURNING task_id, step_id)
    INSERT INTO step_results AS r (task_id, step_id, attempt, output, provenance)
    SELECT task_id, step_id, :attempt, :output, :provenance FROM done
    ON CONFLICT (task_id, step_id) DO UPDATE
       SET attempt = EXCLUDED.attempt, output = EXCLUDED.output,
           provenance = EXCLUDED.provenance, updated_at = now()
    RETURNING (SELECT count(*) FROM steps AS o
                WHERE o.task_id = r.task_id AND o.step_id <> r.step_id
                  AND o.status NOT IN ({sql_list(TERMINAL_STEP_STATUSES)}))
              AS others_unfinished
    """  # noqa: S608 - status literals from the enums, values bound
).bindparams(bindparam("output", type_=JSONB), bindparam("provenance", type_=JSONB))


def succeed(
    conn: Session | Connection,
    claim_: Claim,
    owner: str,
    output: dict[str, Any],
    provenance: dict[str, Any],
    tokens: int,
    cost: float,
) -> int | None:
    """Mark the step succeeded and upsert its output, in one statement guarded by the lease
    (owner and attempt). Returns how many other steps of the task are unfinished (as seen
    before this statement: 0 means this was the last one), or None when the lease was lost
    and nothing was written."""
    row = conn.execute(
        _SUCCEED,
        {
            "task_id": claim_.task_id,
            "step_id": claim_.step_id,
            "owner": owner,
            "attempt": claim_.attempt,
            "tokens": tokens,
            "cost": cost,
            "output": output,
            "provenance": provenance,
        },
    ).one_or_none()
    return None if row is None else int(row.others_unfinished)


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
    session: Session,
    claim_: Claim,
    owner: str,
    error: dict[str, Any],
    tokens: int,
    cost: float,
    *,
    delay: float = 0.0,
) -> bool:
    """Give the step back for a retry of the same generation, due ``delay`` seconds from now."""
    result = session.execute(
        update(StepRow)
        .where(_held(claim_.task_id, claim_.step_id, owner, claim_.attempt))
        .values(
            status=StepStatus.QUEUED.value,
            lease_owner=None,
            lease_until=None,
            error=error,
            queued_at=text("now()"),
            not_before=text(f"now() + make_interval(secs => {float(delay)!r})"),
            tokens_used=StepRow.tokens_used + tokens,
            cost_usd=StepRow.cost_usd + cost,
        )
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def set_status_if(
    session: Session, task_id: str, step_id: str, new: StepStatus, allowed: Collection[str]
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
        .where((StepRow.task_id == task_id) & (StepRow.status.in_(UNCLAIMED_STEP_STATUSES)))
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


def insert_steps(conn: Session | Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(StepRow), rows)


def dependants(rows: list[StepRow], roots: set[str]) -> set[str]:
    """``roots`` and every step that depends on one of them, transitively."""
    children: dict[str, list[str]] = {}
    for r in rows:
        for dep in r.depends_on:
            children.setdefault(dep, []).append(r.step_id)
    found = set(roots)
    frontier = list(roots)
    while frontier:
        for child in children.get(frontier.pop(), []):
            if child not in found:
                found.add(child)
                frontier.append(child)
    return found


def requeue_for_generation(
    session: Session, task_id: str, step_ids: list[str], generation: int, *, fresh: bool
) -> None:
    """Queue ``step_ids`` again under ``generation``; ``fresh`` also resets attempts, errors and
    any stored output (resume, replay)."""
    if not step_ids:
        return
    values: dict[str, Any] = {
        "generation": generation,
        "status": StepStatus.QUEUED.value,
        "lease_owner": None,
        "lease_until": None,
        "queued_at": text("now()"),
        "not_before": None,
        "finished_at": None,
    }
    if fresh:
        values.update(attempts=0, error=None)
        session.execute(
            delete(StepResultRow).where(
                (StepResultRow.task_id == task_id) & (StepResultRow.step_id.in_(step_ids))
            )
        )
    session.execute(
        update(StepRow)
        .where((StepRow.task_id == task_id) & (StepRow.step_id.in_(step_ids)))
        .values(**values)
    )


def move_generation(session: Session, task_id: str, step_ids: list[str], generation: int) -> None:
    """Adopt running steps into a new generation without disturbing them."""
    if step_ids:
        session.execute(
            update(StepRow)
            .where((StepRow.task_id == task_id) & (StepRow.step_id.in_(step_ids)))
            .values(generation=generation)
        )


def results(
    session: Session, task_id: str, step_ids: list[str]
) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """(output, provenance) of each finished step in ``step_ids``."""
    if not step_ids:
        return {}
    rows = session.execute(
        select(StepResultRow.step_id, StepResultRow.output, StepResultRow.provenance).where(
            (StepResultRow.task_id == task_id) & (StepResultRow.step_id.in_(step_ids))
        )
    ).all()
    return {r.step_id: (r.output, r.provenance) for r in rows}


_SNAPSHOT = text(
    """
    SELECT t.status AS task_status, t.generation, t.aggregation, t.tenant, t.tokens_used,
           t.request_id,
           s.step_id, s.status, s.level, s.position, s.error, s.critical, r.output
      FROM tasks AS t
      LEFT JOIN steps AS s ON s.task_id = t.id
      LEFT JOIN step_results AS r ON r.task_id = s.task_id AND r.step_id = s.step_id
     WHERE t.id = :task_id
     ORDER BY s.position
    """
)


def snapshot(conn: Session | Connection, task_id: str) -> list[Any]:
    """The task's head fields and every step with its stored output (None when it has none),
    in plan order, in one query. Each row has ``task_status, generation, aggregation, tenant,
    tokens_used, request_id, step_id, status, level, position, error, critical, output``; no
    rows means no such task."""
    return list(conn.execute(_SNAPSHOT, {"task_id": task_id}).all())


def gaps(session: Session, task_id: str, step_ids: list[str]) -> dict[str, dict[str, Any]]:
    """``{"status", "error"}`` of each step in ``step_ids`` (a dependency with no output)."""
    if not step_ids:
        return {}
    rows = session.execute(
        select(StepRow.step_id, StepRow.status, StepRow.error).where(
            (StepRow.task_id == task_id) & (StepRow.step_id.in_(step_ids))
        )
    ).all()
    return {r.step_id: {"status": r.status, "error": r.error} for r in rows}


_GRANTS = text(
    """
    SELECT s.step_id, s.arm, s.input, t.deadline
      FROM steps AS s JOIN tasks AS t ON t.id = s.task_id
     WHERE s.task_id = :task_id AND s.step_id = ANY(:step_ids)
    """
)


def grant_facts(conn: Session | Connection, task_id: str, step_ids: list[str]) -> dict[str, Any]:
    """What the capability tokens of a canvas's steps derive from (``step_id``, ``arm``,
    ``input``, the task's ``deadline``), by step id; unknown steps are absent. One statement."""
    rows = conn.execute(_GRANTS, {"task_id": task_id, "step_ids": step_ids}).all()
    return {r.step_id: r for r in rows}


_GRANT = text(
    """
    SELECT s.arm, s.status, s.input, t.deadline
      FROM steps AS s JOIN tasks AS t ON t.id = s.task_id
     WHERE s.task_id = :task_id AND s.step_id = :step_id
    """
)


def grant_fact(conn: Session | Connection, task_id: str, step_id: str) -> Any | None:
    """``arm``, ``status``, ``input`` and the task's ``deadline`` of one step (admitting or
    re-issuing its token), None when there is no such step. One statement."""
    return conn.execute(_GRANT, {"task_id": task_id, "step_id": step_id}).one_or_none()


_REDELIVERY = text(
    """
    SELECT s.arm, s.status, s.generation, t.priority
      FROM steps AS s JOIN tasks AS t ON t.id = s.task_id
     WHERE s.task_id = :task_id AND s.step_id = :step_id
    """
)


def redelivery_fact(conn: Session | Connection, task_id: str, step_id: str) -> Any | None:
    """``arm``, ``status``, ``generation`` and the task's ``priority`` of one step (re-sending
    a delegated retry), None when there is no such step. One statement."""
    return conn.execute(_REDELIVERY, {"task_id": task_id, "step_id": step_id}).one_or_none()
