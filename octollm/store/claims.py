"""Claims and leases on step rows. Each function takes a session.

The claim is the guard that makes every delivery safe to repeat: a message claims its step only
when the step is ``queued`` (or ``running`` with an expired lease: its worker died), the
message's generation matches the row, attempts are left, the task is live and not cancelled,
and every dependency has finished. The attempt counter is incremented by the claim itself,
before the work starts, so a step that kills its worker is still counted; a step whose worker
died on its last attempt is taken by ``exhaust`` (dead letter) instead of claimed again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from octollm.contracts.status import ACTIVE_TASK_STATUSES, RAN_STEP_STATUSES, sql_list


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
    # What the step needs from its task, read by the claim itself (same round trip).
    tenant: str = "default"
    request_id: str | None = None
    contract: dict[str, Any] = field(default_factory=dict)
    deadline: datetime | None = None
    task_status: str = ""
    #: Stored outputs of the finished dependencies, by step id (failed ones are absent).
    outputs: dict[str, Any] = field(default_factory=dict)
    #: Its worker died with other steps in it before: this attempt must run alone.
    suspect: bool = False


_CLAIM = text(
    f"""
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
       AND s.attempts < s.max_attempts
       AND t.status IN ({sql_list(ACTIVE_TASK_STATUSES)})
       AND NOT t.cancel_requested
       AND NOT EXISTS (
             SELECT 1 FROM steps AS p
              WHERE p.task_id = s.task_id
                AND p.step_id IN (SELECT jsonb_array_elements_text(s.depends_on))
                AND p.status NOT IN ({sql_list(RAN_STEP_STATUSES)}))
    RETURNING s.arm, s.action, s.input, s.depends_on, s.critical, s.attempts, s.max_attempts,
              s.generation, s.suspect, t.tenant, t.request_id, t.contract, t.deadline,
              t.status AS task_status,
              (SELECT jsonb_object_agg(r.step_id, r.output) FROM step_results AS r
                WHERE r.task_id = s.task_id
                  AND r.step_id IN (SELECT jsonb_array_elements_text(s.depends_on))) AS outputs
    """  # noqa: S608 - status literals from the enums, values bound
)


def claim(
    conn: Session | Connection,
    task_id: str,
    step_id: str,
    generation: int,
    owner: str,
    lease: float,
) -> Claim | None:
    """Claim the step for this delivery (one statement: safe on an autocommit connection)."""
    row = conn.execute(
        _CLAIM,
        {
            "task_id": task_id,
            "step_id": step_id,
            "generation": generation,
            "owner": owner,
            "lease": lease,
        },
    ).one_or_none()
    return None if row is None else _claimed(task_id, step_id, row)


def _claimed(task_id: str, step_id: str, row: Any) -> Claim:
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
        tenant=row.tenant,
        request_id=row.request_id,
        contract=row.contract,
        deadline=row.deadline,
        task_status=row.task_status,
        outputs=row.outputs or {},
        suspect=row.suspect,
    )


_ADOPT = text(
    f"""
    UPDATE steps AS s
       SET status = 'running',
           lease_owner = :owner,
           lease_until = now() + make_interval(secs => :lease),
           updated_at = now()
      FROM tasks AS t
     WHERE s.task_id = :task_id AND s.step_id = :step_id AND t.id = s.task_id
       AND s.attempts = :attempt
       AND (s.status = 'queued' OR (s.status = 'running' AND s.lease_until < now()))
       AND t.status IN ({sql_list(ACTIVE_TASK_STATUSES)})
       AND NOT t.cancel_requested
    RETURNING s.arm, s.action, s.input, s.depends_on, s.critical, s.attempts, s.max_attempts,
              s.generation, s.suspect, t.tenant, t.request_id, t.contract, t.deadline,
              t.status AS task_status, NULL AS outputs
    """  # noqa: S608 - status literals from the enums, values bound
)


def adopt(
    conn: Session | Connection, task_id: str, step_id: str, attempt: int, owner: str, lease: float
) -> Claim | None:
    """Take over ``attempt`` of a step whose runner finished but could not record (its
    outcome is in the journal), without counting a new attempt: only while no later attempt
    has started and nobody holds a live lease on it. Used when no attempt is left to claim."""
    params = {
        "task_id": task_id,
        "step_id": step_id,
        "attempt": attempt,
        "owner": owner,
        "lease": lease,
    }
    row = conn.execute(_ADOPT, params).one_or_none()
    return None if row is None else _claimed(task_id, step_id, row)


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
    attempts: int = 0
    max_attempts: int = 1

    @property
    def lease_expired(self) -> bool:
        return self.seconds_to_lease_expiry is not None and self.seconds_to_lease_expiry < 0


_VIEW = text(
    f"""
    SELECT s.status, s.generation, s.lease_until, s.lease_owner, s.attempts, s.max_attempts,
           t.status AS task_status, t.cancel_requested,
           NOT EXISTS (SELECT 1 FROM steps AS p
                        WHERE p.task_id = s.task_id
                          AND p.step_id IN (SELECT jsonb_array_elements_text(s.depends_on))
                          AND p.status NOT IN ({sql_list(RAN_STEP_STATUSES)})) AS parents_done,
           EXTRACT(EPOCH FROM (s.lease_until - now())) AS to_expiry
      FROM steps AS s JOIN tasks AS t ON t.id = s.task_id
     WHERE s.task_id = :task_id AND s.step_id = :step_id
    """  # noqa: S608 - status literals from the enums, values bound
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
        attempts=row.attempts,
        max_attempts=row.max_attempts,
    )


def renew_leases(
    session: Session, owner: str, lease: float, attempts: list[tuple[str, str, int]]
) -> int:
    """Extend the leases of ``attempts`` (task id, step id, attempt number) that ``owner``
    still holds; returns how many were extended. A step whose attempt number moved on (a
    later attempt took it over) or that is no longer running is left alone."""
    if not attempts:
        return 0
    result = session.execute(
        text(
            """
            UPDATE steps AS s SET lease_until = now() + make_interval(secs => :lease)
              FROM unnest(CAST(:task_ids AS text[]), CAST(:step_ids AS text[]),
                          CAST(:numbers AS int[])) AS a(task_id, step_id, attempt)
             WHERE s.task_id = a.task_id AND s.step_id = a.step_id AND s.attempts = a.attempt
               AND s.lease_owner = :owner AND s.status = 'running'
            """
        ),
        {
            "owner": owner,
            "lease": lease,
            "task_ids": [a[0] for a in attempts],
            "step_ids": [a[1] for a in attempts],
            "numbers": [a[2] for a in attempts],
        },
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


_DEATHS = text(
    """
    WITH dead AS (
        SELECT lease_owner FROM steps
         WHERE status = 'running' AND lease_owner IS NOT NULL
         GROUP BY lease_owner
        HAVING max(lease_until) < now() - make_interval(secs => :grace) AND count(*) > 1)
    UPDATE steps AS s
       SET attempts = GREATEST(s.attempts - 1, 0), suspect = true, lease_owner = NULL,
           updated_at = now()
      FROM dead
     WHERE s.lease_owner = dead.lease_owner AND s.status = 'running'
    RETURNING s.task_id, s.step_id
    """
)


def attribute_deaths(session: Session, grace: float) -> list[tuple[str, str]]:
    """Poison attribution: find worker processes that died with several steps in them.

    A process is dead when no lease it holds was renewed for ``grace`` seconds past expiry
    (a live process renews every attempt it executes, lease.py). If it held one step, that
    step killed it (or shared its fate alone): the attempt counts, as the claim counted it.
    If it held several, any one of them may have killed it: each is a *suspect*, its attempt
    is given back, and its next attempts run alone in their process (``Claim.suspect``), where
    a death is attributable again. So only a step that kills a process it is alone in uses up
    its attempts; its co-residents never do. The lease owner is cleared, so a death is
    attributed once; the steps stay ``running`` with an expired lease for the reconciler or a
    redelivery to take over. Returns the suspects."""
    rows = session.execute(_DEATHS, {"grace": grace}).all()
    return [(r.task_id, r.step_id) for r in rows]


_EXHAUST = text(
    """
    UPDATE steps AS s
       SET status = 'failed', finished_at = now(), lease_owner = NULL, lease_until = NULL,
           error = CAST(:error AS jsonb), updated_at = now()
     WHERE s.task_id = :task_id AND s.step_id = :step_id
       AND s.attempts >= s.max_attempts
       AND (s.status = 'queued' OR (s.status = 'running' AND s.lease_until < now()))
    RETURNING s.arm, s.action, s.input, s.depends_on, s.critical, s.attempts, s.max_attempts,
              s.generation
    """
)


def exhaust(session: Session, task_id: str, step_id: str, error: dict[str, Any]) -> Claim | None:
    """Fail a step that used all its attempts without finishing (its worker kept dying).

    Guarded like a claim: of several deliveries and reconciler passes, exactly one wins."""
    row = session.execute(
        _EXHAUST, {"task_id": task_id, "step_id": step_id, "error": json.dumps(error)}
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
