"""A task's life: submit, expand a plan, finalize, fail, cancel, resume, re-drive.

Every state change is one Postgres transaction; anything to publish goes through the outbox
in that same transaction and is published after commit.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from pydantic import ValidationError
from sqlalchemy import text, update
from sqlalchemy.exc import IntegrityError

from octollm.arms.registry import known_arms
from octollm.contracts.arm import ErrorInfo
from octollm.contracts.plan import Plan
from octollm.contracts.status import StepStatus, TaskStatus
from octollm.contracts.task import TaskContract
from octollm.errors import Conflict, InvalidPlan, NotFound
from octollm.orchestrator import dispatch
from octollm.orchestrator.aggregate import aggregate
from octollm.orchestrator.compile import StepSpec, message_id
from octollm.orchestrator.runtime import Runtime
from octollm.store import steps as step_repo
from octollm.store import tasks as task_repo
from octollm.store.models import StepRow, TaskRow

log = structlog.get_logger(__name__)

PLAN_STEP_ID = "plan"


def validate_plan(plan: Plan | dict[str, Any]) -> Plan:
    """Re-validate a plan against every arm this installation knows (plugins included)."""
    data = plan.model_dump() if isinstance(plan, Plan) else plan
    try:
        return Plan.model_validate(data, context={"arms": known_arms()})
    except ValidationError as exc:
        problems = [
            (".".join(str(p) for p in e["loc"]) + ": " if e["loc"] else "")
            + e["msg"].removeprefix("Value error, ")
            for e in exc.errors()
        ]
        raise InvalidPlan("; ".join(problems), details={"errors": problems}) from None


def _step_rows(task_id: str, plan: Plan, generation: int, max_attempts: int, offset: int = 0) -> list[dict[str, Any]]:
    level_of = {s.step_id: i for i, level in enumerate(plan.levels()) for s in level}
    return [
        {
            "task_id": task_id,
            "step_id": step.step_id,
            "arm": step.arm,
            "action": step.action,
            "input": {**step.input, **({"acceptance_criteria": step.acceptance_criteria} if step.acceptance_criteria else {})},
            "depends_on": list(step.depends_on),
            "critical": step.critical,
            "position": offset + index,
            "level": level_of[step.step_id] + (1 if offset else 0),
            "status": StepStatus.QUEUED.value,
            "generation": generation,
            "attempts": 0,
            "max_attempts": max_attempts,
            "queued_at": datetime.now(UTC),
        }
        for index, step in enumerate(plan.steps)
    ]


def _specs(plan: Plan) -> list[StepSpec]:
    return [StepSpec(s.step_id, s.arm, tuple(s.depends_on)) for s in plan.steps]


def submit(rt: Runtime, contract: TaskContract, *, tenant: str = "default", request_id: str | None = None) -> TaskRow:
    """Store a new task and enqueue its first canvas (the plan step, or the caller's plan)."""
    plan = validate_plan(contract.plan) if contract.plan is not None else None
    deadline = contract.created_at + timedelta(seconds=contract.budget.max_time_seconds)
    if contract.deadline is not None:
        deadline = min(deadline, contract.deadline)
    max_attempts = contract.budget.max_retries + 1
    status = TaskStatus.PROCESSING if plan else TaskStatus.QUEUED
    row = TaskRow(
        id=contract.task_id,
        tenant=tenant,
        status=status.value,
        priority=contract.priority.value,
        goal=contract.goal,
        contract=contract.model_dump(mode="json"),
        plan=plan.model_dump(mode="json") if plan else None,
        aggregation=contract.aggregation.value,
        generation=1,
        max_tokens=contract.budget.max_tokens,
        max_cost_usd=contract.budget.max_cost_usd,
        max_retries=contract.budget.max_retries,
        deadline=deadline,
        request_id=request_id,
        created_at=contract.created_at,
    )
    try:
        with rt.db.session() as session:
            session.add(row)
            session.flush()
            if plan is not None:
                step_repo.insert_steps(session, _step_rows(row.id, plan, 1, max_attempts))
                outbox_id = dispatch.enqueue(session, row.id, 1, _specs(plan), row.priority)
            else:
                planning = Plan.model_validate(
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
                step_repo.insert_steps(session, _step_rows(row.id, planning, 1, max_attempts))
                outbox_id = dispatch.enqueue(
                    session, row.id, 1, _specs(planning), row.priority, finalize=False
                )
    except IntegrityError as exc:
        raise Conflict(f"task {contract.task_id} already exists") from exc
    rt.emit("task.queued", row.id, tenant, priority=row.priority, planned=plan is not None)
    _publish_quietly(rt, outbox_id)
    return row


def _publish_quietly(rt: Runtime, outbox_id: int) -> None:
    """Publish now; if the broker is down the reconciler's relay publishes later."""
    try:
        dispatch.publish(rt.db, rt.app, rt.target, outbox_id)
    except Exception as exc:  # noqa: BLE001 - the outbox row survives; the relay retries
        log.warning("publish_deferred", outbox_id=outbox_id, error=str(exc))


def expand(rt: Runtime, session: Any, task: TaskRow, plan: Plan) -> int:
    """Insert the planner's steps and enqueue their canvas (inside the plan step's transaction)."""
    max_attempts = task.max_retries + 1
    step_repo.insert_steps(session, _step_rows(task.id, plan, task.generation, max_attempts, offset=1))
    session.execute(
        update(TaskRow)
        .where(TaskRow.id == task.id)
        .values(plan=plan.model_dump(mode="json"), status=TaskStatus.PROCESSING.value, updated_at=text("now()"))
    )
    return dispatch.enqueue(session, task.id, task.generation, _specs(plan), task.priority)


def finalize(rt: Runtime, task_id: str, generation: int | None = None) -> str:
    """Aggregate and close the task when every step is finished; otherwise leave it alone."""
    with rt.db.session() as session:
        task = task_repo.get(session, task_id, lock=True)
        if task is None:
            return "missing"
        if TaskStatus(task.status).terminal:
            return "already-terminal"
        if generation is not None and task.generation != generation:
            return "stale"
        rows = step_repo.for_task(session, task_id)
        if any(not StepStatus(r.status).terminal for r in rows):
            return "not-ready"
        outputs = step_repo.outputs(session, task_id, [r.step_id for r in rows])
        failed_critical = [r for r in rows if r.status == StepStatus.FAILED.value and r.critical]
        if failed_critical:
            first = failed_critical[0]
            error = first.error or {"code": "STEP_FAILED", "category": "internal", "message": "step failed"}
            _close(rt, session, task, TaskStatus.FAILED, error=_step_error(first.step_id, error))
            return TaskStatus.FAILED.value
        result = aggregate(task.aggregation, rows, outputs)
        _close(rt, session, task, TaskStatus.COMPLETED, result=result)
        return TaskStatus.COMPLETED.value


def _step_error(step_id: str, error: dict[str, Any]) -> dict[str, Any]:
    return {**error, "message": f"step {step_id}: {error.get('message', 'failed')}", "step_id": step_id}


def _close(
    rt: Runtime,
    session: Any,
    task: TaskRow,
    status: TaskStatus,
    *,
    result: dict[str, Any] | None = None,
    error: dict[str, Any] | None = None,
) -> bool:
    values: dict[str, Any] = {}
    if result is not None:
        values["result"] = result
    if error is not None:
        values["error"] = error
    if not task_repo.move(session, task.id, status, values=values):
        return False
    skipped = step_repo.skip_unfinished(
        session, task.id, StepStatus.CANCELLED if status is TaskStatus.CANCELLED else StepStatus.SKIPPED
    )
    rt.emit(
        f"task.{status.value}",
        task.id,
        task.tenant,
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
        return _close(rt, session, task, TaskStatus.FAILED, error=body)


def cancel(rt: Runtime, task_id: str, *, tenant: str | None = None) -> TaskRow:
    """Persistently cancel: the flag stops new claims even on workers that are offline now;
    queued messages are revoked; running steps stop at their next cancellation check."""
    with rt.db.session() as session:
        task = task_repo.get(session, task_id, tenant=tenant, lock=True)
        if task is None:
            raise NotFound(f"task {task_id} not found")
        if TaskStatus(task.status).terminal:
            raise Conflict(f"task {task_id} is already {task.status}; only live tasks can be cancelled")
        task.cancel_requested = True
        pending = [r for r in step_repo.for_task(session, task_id) if r.status in ("pending", "queued")]
        _close(rt, session, task, TaskStatus.CANCELLED,
               error={"code": "CANCELLED", "category": "cancelled", "message": "cancelled by request"})
        ids = [message_id(task_id, r.step_id, r.generation) for r in pending]
    if ids:
        try:
            rt.app.control.revoke(ids)
        except Exception as exc:  # noqa: BLE001 - the persistent flag already guards every claim
            log.warning("revoke_failed", task_id=task_id, error=str(exc))
    session_task = task
    session_task.status = TaskStatus.CANCELLED.value
    return session_task


def redrive(rt: Runtime, task_id: str, *, reset_failed: bool = False, reason: str = "redrive") -> bool:
    """Re-enqueue the unfinished part of a task's DAG from Postgres under a new generation.

    Finished steps keep their stored outputs and are not run again. Running steps whose lease
    is alive are left running; their new message waits for them. With ``reset_failed``
    (resume, replay) failed, skipped and cancelled steps get fresh attempts.
    """
    with rt.db.session() as session:
        task = task_repo.get(session, task_id, lock=True)
        if task is None:
            raise NotFound(f"task {task_id} not found")
        rows = step_repo.for_task(session, task_id)
        rerun_states = {"pending", "queued", "running"}
        if reset_failed:
            rerun_states |= {"failed", "skipped", "cancelled"}
        remaining = [r for r in rows if r.status in rerun_states]
        if not remaining:
            return False
        generation = task.generation + 1
        session.execute(
            update(TaskRow).where(TaskRow.id == task_id).values(generation=generation, updated_at=text("now()"))
        )
        for r in remaining:
            values: dict[str, Any] = {"generation": generation}
            if r.status == "running" and r.lease_until is not None and r.lease_until > datetime.now(UTC):
                pass  # alive elsewhere: keep it; the new message waits for it
            else:
                values.update(status="queued", lease_owner=None, lease_until=None, queued_at=text("now()"), finished_at=None)
                if reset_failed and r.status in ("failed", "skipped", "cancelled"):
                    values.update(attempts=0, error=None)
            session.execute(
                update(StepRow)
                .where((StepRow.task_id == task_id) & (StepRow.step_id == r.step_id))
                .values(**values)
            )
        planning = any(r.step_id == PLAN_STEP_ID for r in remaining)
        specs = [StepSpec(r.step_id, r.arm, tuple(r.depends_on)) for r in remaining]
        outbox_id = dispatch.enqueue(session, task_id, generation, specs, task.priority, finalize=not planning)
        tenant = task.tenant
    rt.emit("task.redriven", task_id, tenant, generation=generation, steps=[s.step_id for s in specs], reason=reason)
    log.info("task_redriven", task_id=task_id, generation=generation, steps=len(specs), reason=reason)
    _publish_quietly(rt, outbox_id)
    return True


def resume(rt: Runtime, task_id: str, *, tenant: str | None = None) -> TaskRow:
    """Resume a failed or cancelled task from its unfinished steps; finished steps are reused."""
    with rt.db.session() as session:
        task = task_repo.get(session, task_id, tenant=tenant, lock=True)
        if task is None:
            raise NotFound(f"task {task_id} not found")
        if task.status not in (TaskStatus.FAILED.value, TaskStatus.CANCELLED.value):
            raise Conflict(f"task {task_id} is {task.status}; only failed or cancelled tasks can be resumed")
        planned = task.plan is not None
        session.execute(
            update(TaskRow)
            .where(TaskRow.id == task_id)
            .values(
                status=(TaskStatus.PROCESSING if planned else TaskStatus.QUEUED).value,
                cancel_requested=False,
                error=None,
                result=None,
                finished_at=None,
                deadline=datetime.now(UTC) + timedelta(seconds=int(task.contract["budget"]["max_time_seconds"])),
            )
        )
        tenant_ = task.tenant
    rt.emit("task.resumed", task_id, tenant_)
    redrive(rt, task_id, reset_failed=True, reason="resume")
    with rt.db.session() as session:
        refreshed = task_repo.get(session, task_id)
        assert refreshed is not None
        return refreshed
