"""Rows to wire shapes: tasks, steps, progress and links."""

from __future__ import annotations

from collections.abc import Sequence

from octollm.api.schemas import Links, Progress, StepView, TaskSummary, TaskView
from octollm.contracts.status import StepStatus, TaskStatus
from octollm.store.models import StepResultRow, StepRow, TaskRow

API = "/api/v1"


def links(task_id: str) -> Links:
    base = f"{API}/tasks/{task_id}"
    return Links(self=base, events=f"{base}/events", steps=f"{base}/steps", cancel=f"{base}/cancel")


def progress(task: TaskRow, steps: Sequence[StepRow]) -> Progress:
    total = len(steps)
    done = sum(1 for s in steps if StepStatus(s.status).terminal)
    running = [s.step_id for s in steps if s.status == StepStatus.RUNNING.value]
    current: str | None = running[0] if running else None
    if current is None and not TaskStatus(task.status).terminal:
        queued = [s.step_id for s in steps if s.status == StepStatus.QUEUED.value]
        current = queued[0] if queued else None
    if TaskStatus(task.status) is TaskStatus.COMPLETED:
        pct = 100.0
    else:
        pct = round(100.0 * done / total, 1) if total else 0.0
    return Progress(completed_steps=done, total_steps=total, current_step=current, percentage=pct)


def task_view(
    task: TaskRow, steps: Sequence[StepRow], results: dict[str, StepResultRow]
) -> TaskView:
    return TaskView(
        task_id=task.id,
        status=task.status,
        priority=task.priority,
        goal=task.goal,
        progress=progress(task, steps),
        answer=(task.result or {}).get("answer"),
        verdict=((task.result or {}).get("verdict") or {}).get("status"),
        rounds=len((task.result or {}).get("rounds") or []),
        result=task.result,
        error=task.error,
        provenance=[dict(results[s.step_id].provenance) for s in steps if s.step_id in results],
        tokens_used=int(task.tokens_used or 0),
        cost_usd=float(task.cost_usd or 0),
        request_id=task.request_id,
        created_at=task.created_at,
        updated_at=task.updated_at,
        started_at=task.started_at,
        finished_at=task.finished_at,
        links=links(task.id),
        budget=(task.contract or {}).get("budget"),
        screening=((task.contract or {}).get("metadata") or {}).get("screening"),
    )


def summary(task: TaskRow) -> TaskSummary:
    return TaskSummary(
        task_id=task.id,
        tenant=task.tenant,
        status=task.status,
        priority=task.priority,
        goal=task.goal,
        tokens_used=int(task.tokens_used or 0),
        cost_usd=float(task.cost_usd or 0),
        created_at=task.created_at,
        updated_at=task.updated_at,
        finished_at=task.finished_at,
        links=links(task.id),
    )


def step_view(step: StepRow, result: StepResultRow | None) -> StepView:
    return StepView(
        step_id=step.step_id,
        arm=step.arm,
        action=step.action,
        status=step.status,
        critical=step.critical,
        depends_on=list(step.depends_on),
        level=step.level,
        generation=step.generation,
        attempts=step.attempts,
        max_attempts=step.max_attempts,
        input=step.input,
        worker=step.lease_owner or ((result.provenance or {}).get("worker") if result else None),
        error=step.error,
        output=result.output if result is not None else None,
        provenance=result.provenance if result is not None else None,
        tokens_used=int(step.tokens_used or 0),
        cost_usd=float(step.cost_usd or 0),
        queued_at=step.queued_at,
        started_at=step.started_at,
        finished_at=step.finished_at,
    )
