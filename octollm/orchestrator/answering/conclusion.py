"""How a task whose steps have all finished ends: complete, fail, or repair.

Called by ``lifecycle.finalize`` inside one transaction that holds the task row's lock. The
task's *current* steps (those no repair round or replan replaced) are integrated into a result
``{answer, artefacts, citations, verdict, rounds, ...aggregate}`` and judged by the verdict of
their final judge step (``verification``):

    verdict valid                               -> completed
    verdict unverified, no failed step          -> completed (verdict "unverified")
    verdict unverified, a failed step           -> failed (that step's error code)
    verdict invalid, a repair round left, a step
      that can be repaired, budget left         -> a repair round is queued ("repairing")
    verdict invalid otherwise                   -> failed, VERDICT_INVALID (or the failed
                                                   step's code), with the reasons

Every decision is a ``task_rounds`` row; a repair is also a ``task.repairing`` event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from octollm.contracts.event import EventType
from octollm.contracts.status import StepStatus, TaskStatus
from octollm.orchestrator.answering import integration, repair, verification
from octollm.orchestrator.engine import dispatch, expansion, swarm
from octollm.orchestrator.engine.aggregate import aggregate
from octollm.orchestrator.runtime import Runtime
from octollm.store import rounds as round_repo
from octollm.store import steps as step_repo
from octollm.store import tasks as task_repo
from octollm.store.db import Session
from octollm.store.models import StepRow, TaskRow

DEFAULT_MAX_REPAIR_ROUNDS = 2


@dataclass(frozen=True)
class Decision:
    status: str  # completed | failed | repairing | already-terminal
    outbox: dispatch.Outbox | None = None
    values: dict[str, Any] | None = None


def current_steps(rows: list[StepRow], history: list[round_repo.TaskRoundRow]) -> list[StepRow]:
    gone = round_repo.replaced(history)
    return [r for r in rows if r.step_id not in gone and not swarm.is_variant(r.step_id)]


def max_repair_rounds(task: TaskRow) -> int:
    budget = (task.contract or {}).get("budget") or {}
    return int(budget.get("max_repair_rounds", DEFAULT_MAX_REPAIR_ROUNDS))


def budget_spent(task: TaskRow) -> str | None:
    """Why no repair round may start, or None when the budget allows one."""
    if int(task.tokens_used) >= int(task.max_tokens):
        return "the token budget is spent"
    if float(task.cost_usd) >= float(task.max_cost_usd):
        return "the cost budget is spent"
    if task.deadline is not None and task.deadline <= datetime.now(UTC):
        return "the time budget is spent"
    return None


def conclude(rt: Runtime, session: Session, task: TaskRow, rows: list[StepRow]) -> Decision:
    history = round_repo.for_task(session, task.id)
    current = current_steps(rows, history)
    outputs = step_repo.outputs(session, task.id, [r.step_id for r in current])
    verdict = verification.verdict_of(current, outputs)
    round_no = 1 + sum(1 for h in history if h.kind == "verdict")
    failed = next((r for r in current if r.status == StepStatus.FAILED.value), None)
    reason = "; ".join(verdict.reasons)[:2000]
    record = {
        "task_id": task.id,
        "round": round_no,
        "kind": "verdict",
        "verdict": verdict.status,
        "reason": reason,
        "details": {"failed_criteria": verdict.failed_criteria, "criteria": verdict.criteria},
        "generation": task.generation,
    }
    if verdict.status == "invalid":
        queued = _repair(rt, session, task, current, outputs, verdict, round_no, record)
        if queued is not None:
            return queued
    base = {
        **aggregate(task.aggregation, current, outputs),
        **integration.integrate(current, outputs),
        "verdict": verdict.view(),
    }
    error: dict[str, Any] | None = None
    if verdict.status == "valid" or (verdict.status == "unverified" and failed is None):
        status = TaskStatus.COMPLETED
    else:
        status = TaskStatus.FAILED
        error = _error(verdict, failed, record.get("_why"))
    record.pop("_why", None)
    round_repo.record(session, decision=status.value, **record)
    views = [round_repo.view(h) for h in round_repo.for_task(session, task.id)]
    result = {**base, "rounds": [v for v in views if v["kind"] == "verdict"]}
    result["replans"] = [v for v in views if v["kind"] == "replan"]
    values: dict[str, Any] = {"result": result}
    if error is not None:
        values["error"] = error
    if not task_repo.move(session, task.id, status, values=values, generation=task.generation):
        return Decision("already-terminal")
    return Decision(status.value, values=values)


def _error(
    verdict: verification.Verdict, failed: StepRow | None, why_not_repaired: Any
) -> dict[str, Any]:
    reasons = list(verdict.reasons)
    if why_not_repaired:
        reasons.append(str(why_not_repaired))
    code = "VERDICT_INVALID"
    if failed is not None:
        step_error = failed.error or {}
        code = str(step_error.get("code") or "STEP_FAILED")
        reasons.insert(0, f"step {failed.step_id} failed: {step_error.get('message', code)}")
    message = "; ".join(reasons) or f"the verdict is {verdict.status}"
    return {
        "code": code,
        "category": "validation",
        "message": message[:4000],
        "retryable": False,
        "details": {
            "verdict": verdict.status,
            "reasons": reasons,
            "failed_criteria": verdict.failed_criteria,
            "step_id": failed.step_id if failed is not None else verdict.step_id,
        },
    }


def _repair(
    rt: Runtime,
    session: Session,
    task: TaskRow,
    current: list[StepRow],
    outputs: dict[str, dict[str, Any]],
    verdict: verification.Verdict,
    round_no: int,
    record: dict[str, Any],
) -> Decision | None:
    limit = max_repair_rounds(task)
    if round_no > limit:
        record["_why"] = f"no repair round left ({limit} allowed)"
        return None
    spent = budget_spent(task)
    if spent is not None:
        record["_why"] = f"no repair round: {spent}"
        return None
    generation = task.generation + 1
    planned = repair.plan_round(round_no + 1, generation, current, outputs, verdict, goal=task.goal)
    if planned is None:
        record["_why"] = "no step can repair what the verdict found"
        return None
    step_repo.insert_steps(session, planned.rows)
    task_repo.set_generation(session, task.id, generation)
    new_ids = [r["step_id"] for r in planned.rows]
    round_repo.record(
        session,
        decision="repair",
        target_step=planned.target,
        replaced=planned.replaced,
        steps=new_ids,
        **record,
    )
    outbox = dispatch.enqueue(
        session, task.id, generation, expansion.specs(planned.rows), task.priority
    )
    rt.emit(
        EventType.TASK_REPAIRING,
        task.id,
        task.tenant,
        session=session,
        request_id=task.request_id,
        round=round_no + 1,
        target_step=planned.target,
        failed_criteria=verdict.failed_criteria,
        reasons=verdict.reasons,
        steps=new_ids,
        generation=generation,
    )
    return Decision("repairing", outbox=outbox)
