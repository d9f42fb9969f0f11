"""The dead-letter store: steps that used up their attempts, kept for inspection and replay.

A step lands here when a transient error outlasts ``budget.max_retries`` (reason
``exhausted``) or when its worker died on every attempt (reason ``poison``: the claim counted
each attempt before the work started, so a step that kills its process cannot loop forever).
The row names the task and step, the last error, the attempts and a reference to the input
(the step row in Postgres, with a hash of its input); the input itself stays in ``steps``.

Replaying a dead letter runs the step again from scratch, with everything that depends on it,
re-opening its task when the task had ended; the replay is recorded on the row
(``replayed_at``, ``replay_count``, ``replayed_by``). Replay is refused (``Conflict``) while the
task is still running, and when the step has succeeded since (an earlier replay worked).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import structlog

from octollm.contracts.arm import ErrorInfo
from octollm.contracts.event import EventType
from octollm.contracts.status import TaskStatus
from octollm.errors import Conflict, NotFound
from octollm.orchestrator.engine import dispatch, lifecycle
from octollm.orchestrator.recovery import redriving
from octollm.orchestrator.runtime import Runtime
from octollm.store import claims
from octollm.store import dead_letters as dead_letter_repo
from octollm.store import steps as step_repo
from octollm.store import tasks as task_repo
from octollm.store.db import Session
from octollm.store.dead_letters import MAX_LIST as MAX_LIST
from octollm.store.dead_letters import DeadLetterFilter as DeadLetterFilter
from octollm.store.models import DeadLetterRow

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class DeadLetter:
    id: int
    task_id: str
    step_id: str
    arm: str
    tenant: str
    error: dict[str, Any]
    attempts: int
    input_ref: dict[str, Any]
    reason: str
    created_at: datetime
    replayed_at: datetime | None
    replay_count: int
    replayed_by: str | None

    @classmethod
    def of(cls, row: DeadLetterRow) -> DeadLetter:
        return cls(
            id=int(row.id),
            task_id=row.task_id,
            step_id=row.step_id,
            arm=row.arm,
            tenant=row.tenant,
            error=row.error,
            attempts=row.attempts,
            input_ref=row.input_ref,
            reason=row.reason,
            created_at=row.created_at,
            replayed_at=row.replayed_at,
            replay_count=row.replay_count,
            replayed_by=row.replayed_by,
        )


@dataclass
class ReplayReport:
    replayed: list[DeadLetter] = field(default_factory=list)
    #: (dead letter id, why it was not replayed)
    skipped: list[tuple[int, str]] = field(default_factory=list)


# -- recording ---------------------------------------------------------------------------------


def record(
    session: Session, claim: claims.Claim, tenant: str, error: dict[str, Any], reason: str
) -> None:
    """Insert the dead letter for a step that just failed for good (same transaction)."""
    digest = hashlib.sha256(json.dumps(claim.input, sort_keys=True).encode()).hexdigest()
    dead_letter_repo.add(
        session,
        task_id=claim.task_id,
        step_id=claim.step_id,
        arm=claim.arm,
        tenant=tenant,
        error=error,
        attempts=claim.attempt,
        reason=reason,
        input_ref={
            "task_id": claim.task_id,
            "step_id": claim.step_id,
            "generation": claim.generation,
            "input_sha256": digest,
        },
    )


def exhaust(rt: Runtime, session: Session, task_id: str, step_id: str) -> bool:
    """Dead-letter a step whose worker died on each of its attempts; False when another
    delivery or reconciler pass got there first (or the step is not exhausted)."""
    error = ErrorInfo(
        code="REDELIVERY_LIMIT",
        category="internal",
        message="the step's worker died on each of its attempts",
    ).model_dump(mode="json")
    claim = claims.exhaust(session, task_id, step_id, error)
    if claim is None:
        return False
    error["message"] = (
        f"the step's worker died on each of its {claim.attempt} attempts "
        f"(limit {claim.max_attempts})"
    )
    task = task_repo.get(session, task_id)
    assert task is not None
    record(session, claim, task.tenant, error, "poison")
    rt.emit(
        EventType.STEP_DEAD_LETTERED,
        task_id,
        task.tenant,
        session=session,
        request_id=task.request_id,
        step_id=step_id,
        arm=claim.arm,
        reason="poison",
    )
    if claim.critical:
        lifecycle.close(
            rt, session, task, TaskStatus.FAILED, error=lifecycle.step_error(step_id, error)
        )
    log.warning("step_dead_lettered", task_id=task_id, step_id=step_id, reason="poison")
    return True


# -- reading -----------------------------------------------------------------------------------


def list_dead_letters(rt: Runtime, filters: DeadLetterFilter | None = None) -> list[DeadLetter]:
    """Newest first; page with ``before_id`` = the last id of the previous page."""
    with rt.db.session() as session:
        rows = dead_letter_repo.matching(session, filters or DeadLetterFilter())
        return [DeadLetter.of(r) for r in rows]


def get(rt: Runtime, dead_letter_id: int, *, tenant: str | None = None) -> DeadLetter:
    with rt.db.session() as session:
        row = dead_letter_repo.get(session, dead_letter_id)
        if row is None or (tenant is not None and row.tenant != tenant):
            raise NotFound(f"dead letter {dead_letter_id} not found")
        return DeadLetter.of(row)


# -- replaying ---------------------------------------------------------------------------------


def _replay_task(
    session: Session, task_id: str, letters: list[DeadLetterRow], by: str
) -> dispatch.Outbox | None:
    """Re-run the dead-lettered steps of one task (locked); returns the outbox id."""
    task = task_repo.get(session, task_id, lock=True)
    if task is None:
        raise NotFound(f"task {task_id} of the dead letter no longer exists")
    if not TaskStatus(task.status).terminal:
        raise Conflict(f"task {task_id} is still {task.status}; replay it once it has finished")
    steps = {r.step_id: r.status for r in step_repo.for_task(session, task_id)}
    roots = {dl.step_id for dl in letters}
    done = sorted(s for s in roots if steps.get(s) == "succeeded")
    if done:
        raise Conflict(f"step(s) {', '.join(done)} of task {task_id} succeeded since")
    redriving.reopen(session, task)
    outbox = redriving.redrive_in(session, task, reset=roots)
    dead_letter_repo.mark_replayed(session, [dl.id for dl in letters], by)
    return outbox


def _request_id(session: Session, task_id: str) -> str | None:
    """The task's request id (the row ``_replay_task`` locked is in the session already)."""
    task = task_repo.get(session, task_id)
    return task.request_id if task is not None else None


def replay(
    rt: Runtime, dead_letter_id: int, *, by: str = "operator", tenant: str | None = None
) -> DeadLetter:
    """Run a dead-lettered step again (with its dependants); returns the updated record.

    Raises ``NotFound`` (unknown id, or another tenant's), ``Conflict`` (task still running,
    or the step has succeeded since)."""
    with rt.db.session() as session:
        locked = dead_letter_repo.lock(session, [dead_letter_id])
        row = locked[0] if locked else None
        if row is None or (tenant is not None and row.tenant != tenant):
            raise NotFound(f"dead letter {dead_letter_id} not found")
        outbox = _replay_task(session, row.task_id, [row], by)
        request_id = _request_id(session, row.task_id)
        dead_letter_repo.reread(session, [row])
        result = DeadLetter.of(row)
    rt.emit(
        EventType.TASK_REPLAYED,
        result.task_id,
        result.tenant,
        request_id=request_id,
        step_id=result.step_id,
        by=by,
    )
    log.info("dead_letter_replayed", dead_letter_id=dead_letter_id, task_id=result.task_id, by=by)
    lifecycle.publish_quietly(rt, outbox)
    return result


def replay_matching(
    rt: Runtime, filters: DeadLetterFilter, *, by: str = "operator"
) -> ReplayReport:
    """Replay every dead letter matching ``filters`` (``replayed=None`` means never-replayed
    ones only, so a repeated call does not replay twice). One transaction per task: the
    dead-lettered steps of one task are re-run together."""
    if filters.replayed is None:
        filters = replace(filters, replayed=False)
    report = ReplayReport()
    by_task: dict[str, list[int]] = {}
    for letter in list_dead_letters(rt, filters):
        by_task.setdefault(letter.task_id, []).append(letter.id)
    for task_id, ids in by_task.items():
        try:
            with rt.db.session() as session:
                rows = dead_letter_repo.lock(session, ids)
                outbox = _replay_task(session, task_id, rows, by)
                request_id = _request_id(session, task_id)
                dead_letter_repo.reread(session, rows)
                done = [DeadLetter.of(r) for r in rows]
        except (Conflict, NotFound) as exc:
            report.skipped.extend((i, exc.message) for i in ids)
            continue
        report.replayed.extend(done)
        rt.emit(
            EventType.TASK_REPLAYED,
            task_id,
            done[0].tenant,
            request_id=request_id,
            steps=[d.step_id for d in done],
            by=by,
        )
        lifecycle.publish_quietly(rt, outbox)
    return report
