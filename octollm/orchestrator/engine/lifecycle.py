"""A task's life: submit, expand a plan, finalize, fail, cancel, resume, re-drive.

Every state change is one Postgres transaction; anything to publish goes through the outbox
in that same transaction and is published after commit.

Repairs (the reconciler's re-drive, resume, dead-letter replay) continue a task from Postgres
under a new generation; ``redrive`` has the details.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import structlog
from pydantic import ValidationError

from octollm.arms.registry import known_arms
from octollm.config import get_settings
from octollm.contracts.arm import ErrorInfo
from octollm.contracts.event import EventType
from octollm.contracts.plan import PLAN_STEP_ID, Plan
from octollm.contracts.problems import one_line
from octollm.contracts.status import (
    RESUMABLE_TASK_STATUSES,
    UNCLAIMED_STEP_STATUSES,
    StepStatus,
    TaskStatus,
)
from octollm.contracts.task import TaskContract
from octollm.errors import Conflict, InvalidPlan, NotFound
from octollm.orchestrator.answering import conclusion
from octollm.orchestrator.capability import issuing
from octollm.orchestrator.engine import dispatch, expansion
from octollm.orchestrator.engine.compile import message_id
from octollm.orchestrator.fairness import dispatcher as fair
from octollm.orchestrator.fairness import quotas
from octollm.orchestrator.recovery import isolation, redriving
from octollm.orchestrator.runtime import Runtime
from octollm.store import rounds as round_repo
from octollm.store import steps as step_repo
from octollm.store import tasks as task_repo
from octollm.store.db import Session
from octollm.store.models import TaskRow

log = structlog.get_logger(__name__)


@lru_cache(maxsize=8)
def _known_arms(plugins: str) -> frozenset[str]:
    return known_arms()


def arm_names() -> frozenset[str]:
    """The registry's arm names, looked up once per plugin setting (the registry rescans the
    installed packages' entry points on every call, a few milliseconds each)."""
    return _known_arms(get_settings().arm_plugins)


def validate_plan(plan: Plan | dict[str, Any]) -> Plan:
    """Re-validate a plan against every arm this installation knows (plugins included)."""
    data = plan.model_dump() if isinstance(plan, Plan) else plan
    try:
        validated = Plan.model_validate(data, context={"arms": arm_names()})
    except ValueError as exc:
        problem = one_line(exc) if isinstance(exc, ValidationError) else str(exc)
        raise InvalidPlan(f"invalid plan: {problem}") from exc
    expansion.check(validated)
    return validated


def _planning_plan(contract: TaskContract) -> Plan:
    return Plan.model_validate(
        {
            "steps": [
                {
                    "step_id": PLAN_STEP_ID,
                    "arm": "planner",
                    "action": "Decompose the goal into a plan of steps",
                    "input": {
                        "goal": contract.goal,
                        "constraints": contract.constraints,
                        "context": contract.context,
                    },
                }
            ]
        }
    )


def submit(
    rt: Runtime, contract: TaskContract, *, tenant: str = "default", request_id: str | None = None
) -> TaskRow:
    """Store a new task and enqueue its first canvas (the plan step, or the caller's plan)."""
    plan = validate_plan(contract.plan) if contract.plan is not None else None
    deadline = contract.created_at + timedelta(seconds=contract.budget.max_time_seconds)
    if contract.deadline is not None:
        deadline = min(deadline, contract.deadline)
    max_attempts = contract.budget.max_retries + 1
    status = TaskStatus.PROCESSING if plan else TaskStatus.QUEUED
    fields: dict[str, Any] = {
        "id": contract.task_id,
        "tenant": tenant,
        "status": status.value,
        "priority": contract.priority.value,
        "goal": contract.goal,
        "contract": contract.model_dump(mode="json"),
        "plan": plan.model_dump(mode="json") if plan else None,
        "aggregation": contract.aggregation.value,
        "generation": 1,
        "cancel_requested": False,
        "tokens_used": 0,
        "cost_usd": 0,
        "max_tokens": contract.budget.max_tokens,
        "max_cost_usd": contract.budget.max_cost_usd,
        "max_retries": contract.budget.max_retries,
        "deadline": deadline,
        "request_id": request_id,
        "created_at": contract.created_at,
        "started_at": datetime.now(UTC) if plan else None,
    }
    step_rows = expansion.rows(contract.task_id, plan or _planning_plan(contract), 1, max_attempts)
    with rt.db.session() as session:
        conn = session.connection()  # plain inserts: no unit-of-work bookkeeping
        quotas.admit(conn, tenant)  # the tenant's unfinished-task limit and daily quotas
        task_repo.create(conn, fields)  # ``Conflict`` when the id is taken
        step_repo.insert_steps(conn, step_rows)
        outbox = dispatch.enqueue(
            conn,
            contract.task_id,
            1,
            expansion.specs(step_rows),
            contract.priority.value,
            finalize=plan is not None,
        )
    # The rows were just written: the tokens' grant facts need no read back.
    grants = {r["step_id"]: issuing.GrantFact(dict(r["input"]), deadline) for r in step_rows}
    outbox = dataclasses.replace(outbox, grants=grants)
    row = TaskRow(**fields)
    rt.emit(
        EventType.TASK_QUEUED,
        row.id,
        tenant,
        request_id=request_id,
        priority=row.priority,
        planned=plan is not None,
        **(
            {"screening": contract.metadata["screening"]}
            if "screening" in contract.metadata
            else {}
        ),
    )
    publish_quietly(rt, outbox)
    return row


def publish_quietly(rt: Runtime, outbox: dispatch.Outbox | None) -> None:
    """Publish now; if the broker is down the reconciler's relay publishes later. With fair
    dispatch the row is held, and a dispatcher pass releases it in its tenant's turn."""
    if outbox is None:
        return
    if fair.enabled(rt):
        fair.after_commit(rt, outbox)
        return
    try:
        dispatch.publish(rt.db, rt.app, rt.target, outbox)
    except Exception as exc:  # noqa: BLE001 - the outbox row survives; the relay retries
        log.warning("publish_deferred", outbox_id=outbox.id, error=str(exc))


def expand(session: Session, task: TaskRow, plan: Plan) -> dispatch.Outbox:
    """Insert the planner's steps and enqueue their canvas (inside the plan step's transaction)."""
    step_rows = expansion.rows(task.id, plan, task.generation, task.max_retries + 1, offset=1)
    step_repo.insert_steps(session, step_rows)
    task_repo.set_plan(session, task.id, plan.model_dump(mode="json"))
    return dispatch.enqueue(
        session, task.id, task.generation, expansion.specs(step_rows), task.priority
    )


def finalize(rt: Runtime, task_id: str, generation: int | None = None) -> str:
    """Integrate, judge and close the task when every step is finished (or queue a repair
    round, see ``conclusion``); otherwise leave it alone.

    A lock-free read first (most calls find steps still running); the decision itself holds
    the task row's lock and applies only to a live task of the generation that was read."""
    with rt.db.autocommit() as conn:
        all_rows = step_repo.snapshot(conn, task_id)
        if not all_rows:
            return "missing"
        head = all_rows[0]
        if TaskStatus(head.task_status).terminal:
            return "already-terminal"
        if generation is not None and head.generation != generation:
            return "stale"
        if any(not StepStatus(r.status).terminal for r in all_rows):
            return "not-ready"
    with rt.db.session() as session:
        task = task_repo.get(session, task_id, lock=True)
        if task is None or TaskStatus(task.status).terminal:
            return "already-terminal"
        if task.generation != head.generation:
            return "stale"
        rows = step_repo.for_task(session, task_id)
        if any(not StepStatus(r.status).terminal for r in rows):
            return "not-ready"
        decision = conclusion.conclude(rt, session, task, rows)
        tenant, request_id, tokens = task.tenant, task.request_id, int(task.tokens_used)
    if decision.status == "repairing":
        publish_quietly(rt, decision.outbox)
        return decision.status
    if decision.values is None:
        return decision.status
    result = decision.values.get("result") or {}
    verdict = result.get("verdict") or {}
    rt.emit(
        EventType.of_task(decision.status),
        task_id,
        tenant,
        request_id=request_id,
        error=decision.values.get("error"),
        answer=result.get("answer"),
        verdict=verdict.get("status"),
        rounds=len(result.get("rounds") or []),
        skipped_steps=[],
        tokens_used=tokens,
    )
    return decision.status


def step_error(step_id: str, error: dict[str, Any]) -> dict[str, Any]:
    message = f"step {step_id}: {error.get('message', 'failed')}"
    return {**error, "message": message, "step_id": step_id}


def close(
    rt: Runtime,
    session: Session,
    task: TaskRow,
    status: TaskStatus,
    *,
    result: dict[str, Any] | None = None,
    error: dict[str, Any] | None = None,
) -> bool:
    """Move a live task to a terminal status and settle its unfinished steps."""
    values: dict[str, Any] = {}
    if result is not None:
        values["result"] = result
    if error is not None:
        values["error"] = error
    if not task_repo.move(session, task.id, status, values=values):
        return False
    settled = StepStatus.CANCELLED if status is TaskStatus.CANCELLED else StepStatus.SKIPPED
    skipped = step_repo.skip_unfinished(session, task.id, settled)
    rt.emit(
        EventType.of_task(status.value),
        task.id,
        task.tenant,
        session=session,
        request_id=task.request_id,
        error=error,
        skipped_steps=skipped,
        tokens_used=int(task.tokens_used),
    )
    return True


def fail_task(rt: Runtime, task_id: str, error: ErrorInfo | dict[str, Any]) -> bool:
    body = error.model_dump(mode="json") if isinstance(error, ErrorInfo) else error
    with rt.db.session() as session:
        task = task_repo.get(session, task_id, lock=True)
        if task is None or TaskStatus(task.status).terminal:
            return False
        return close(rt, session, task, TaskStatus.FAILED, error=body)


def cancel(rt: Runtime, task_id: str, *, tenant: str | None = None) -> TaskRow:
    """Persistently cancel: the flag stops new claims even on workers that are offline now;
    queued messages are revoked; running steps stop at their next cancellation check.

    Raises ``NotFound``, or ``Conflict`` when the task is already terminal."""
    with rt.db.session() as session:
        task = task_repo.get(session, task_id, tenant=tenant, lock=True)
        if task is None:
            raise NotFound(f"task {task_id} not found")
        if TaskStatus(task.status).terminal:
            raise Conflict(
                f"task {task_id} is already {task.status}; only live tasks can be cancelled"
            )
        task.cancel_requested = True
        pending = [
            r for r in step_repo.for_task(session, task_id) if r.status in UNCLAIMED_STEP_STATUSES
        ]
        close(
            rt,
            session,
            task,
            TaskStatus.CANCELLED,
            error={"code": "CANCELLED", "category": "cancelled", "message": "cancelled by request"},
        )
        ids = [message_id(task_id, r.step_id, r.generation) for r in pending]
    if ids:
        try:
            rt.app.control.revoke(ids)
        except Exception as exc:  # noqa: BLE001 - the persistent flag already guards every claim
            log.warning("revoke_failed", task_id=task_id, error=str(exc))
    task.status = TaskStatus.CANCELLED.value
    return task


def redrive(rt: Runtime, task_id: str, *, reason: str = "redrive") -> bool:
    """Re-enqueue a live task's unfinished steps (the reconciler's repair)."""
    with rt.db.session() as session:
        task = task_repo.get(session, task_id, lock=True)
        if task is None:
            raise NotFound(f"task {task_id} not found")
        if TaskStatus(task.status).terminal:
            return False
        outbox = redriving.redrive_in(
            session, task, quarantine=lambda: isolation.lane_open(rt.settings)
        )
        tenant, generation, request_id = task.tenant, task.generation + 1, task.request_id
    if outbox is None:
        return False
    rt.emit(
        EventType.TASK_REDRIVEN,
        task_id,
        tenant,
        request_id=request_id,
        generation=generation,
        reason=reason,
    )
    log.info("task_redriven", task_id=task_id, generation=generation, reason=reason)
    publish_quietly(rt, outbox)
    return True


def resume(rt: Runtime, task_id: str, *, tenant: str | None = None) -> TaskRow:
    """Resume a failed or cancelled task: its failed critical, skipped and cancelled steps run
    again with whatever depends on them; succeeded steps keep their outputs.

    Raises ``NotFound``, or ``Conflict`` unless the task is failed or cancelled."""
    with rt.db.session() as session:
        task = task_repo.get(session, task_id, tenant=tenant, lock=True)
        if task is None:
            raise NotFound(f"task {task_id} not found")
        if task.status not in RESUMABLE_TASK_STATUSES:
            raise Conflict(
                f"task {task_id} is {task.status}; only failed or cancelled tasks can be resumed"
            )
        rows = step_repo.for_task(session, task_id)
        replaced = round_repo.replaced(round_repo.for_task(session, task_id))
        roots = {  # steps a repair round or a replan replaced stay as they are
            r.step_id
            for r in rows
            if r.step_id not in replaced
            and (r.status in ("skipped", "cancelled") or (r.status == "failed" and r.critical))
        }
        redriving.reopen(session, task)
        outbox = redriving.redrive_in(session, task, reset=roots)
        if outbox is None:  # nothing left to run: let finalize decide
            outbox = dispatch.enqueue(session, task.id, task.generation, [], task.priority)
        tenant_, request_id = task.tenant, task.request_id
    rt.emit(EventType.TASK_RESUMED, task_id, tenant_, request_id=request_id, steps=sorted(roots))
    publish_quietly(rt, outbox)
    with rt.db.session() as session:
        refreshed = task_repo.get(session, task_id)
        assert refreshed is not None
        return refreshed
