"""Replanning: an arm said it cannot take the task further as planned.

A step whose arm returns ``requires_replanning`` (with a reason) succeeds with its output;
then, in one transaction holding the task's lock:

1. if the task's ``max_replans`` (budget) is used up, a ``replan`` row with decision
   ``refused`` records it and the plan simply goes on;
2. otherwise the steps of the plan not started yet are skipped (and named as replaced), and a
   planner step ``replan.<n>`` is queued under a new generation, depending on the step that
   asked. Its input ``{op: "replan", reason, from_step, finished, replaced}`` gives the planner
   the goal's finished outputs and the reason.

When ``replan.<n>`` succeeds, its plan's steps are added as ``r<n>.<step_id>`` (``extend``)
and run; the original plan stays in the task row, every replan is a ``task_rounds`` row and a
``task.replanning`` event.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from octollm.contracts.event import EventType
from octollm.contracts.plan import PLAN_STEP_ID, Plan
from octollm.contracts.status import UNCLAIMED_STEP_STATUSES, StepStatus, TaskStatus
from octollm.orchestrator.answering import conclusion
from octollm.orchestrator.engine import dispatch, expansion
from octollm.orchestrator.runtime import Runtime
from octollm.store import rounds as round_repo
from octollm.store import steps as step_repo
from octollm.store import tasks as task_repo
from octollm.store.claims import Claim
from octollm.store.db import Session
from octollm.store.models import TaskRow

PREFIX = "replan."
DEFAULT_MAX_REPLANS = 1
_SUMMARY_CHARS = 1500


def is_replan_step(step_id: str, arm: str) -> bool:
    return arm == "planner" and step_id.startswith(PREFIX)


def _limit(task: TaskRow) -> int:
    budget = (task.contract or {}).get("budget") or {}
    return int(budget.get("max_replans", DEFAULT_MAX_REPLANS))


def request(rt: Runtime, claim: Claim, reason: str) -> dispatch.Outbox | None:
    """Queue a replan step for ``claim``'s task, or record the refusal; the caller publishes."""
    with rt.db.session() as session:
        task = task_repo.get(session, claim.task_id, lock=True)
        if task is None or TaskStatus(task.status).terminal:
            return None
        if task.generation != claim.generation:
            return None
        history = round_repo.for_task(session, task.id)
        done = sum(1 for h in history if h.kind == "replan" and h.decision == "replan")
        limit = _limit(task)
        base = {
            "task_id": task.id,
            "round": done + 1,
            "kind": "replan",
            "target_step": claim.step_id,
            "details": {},
            "generation": task.generation,
        }
        if done >= limit:
            why = f"{reason}; no replan left ({limit} allowed), the plan goes on"
            round_repo.record(session, decision="refused", reason=why, **base)
            return None
        rows = conclusion.current_steps(step_repo.for_task(session, task.id), history)
        pending = [r for r in rows if r.status in UNCLAIMED_STEP_STATUSES]
        skipped = [
            r.step_id
            for r in pending
            if step_repo.set_status_if(
                session, task.id, r.step_id, StepStatus.SKIPPED, UNCLAIMED_STEP_STATUSES
            )
        ]
        finished_ids = [r.step_id for r in rows if r.status == StepStatus.SUCCEEDED.value]
        outputs = step_repo.outputs(session, task.id, finished_ids)
        generation = task.generation + 1
        step_id = f"{PREFIX}{done + 1}"
        row = {
            "task_id": task.id,
            "step_id": step_id,
            "arm": "planner",
            "action": f"Replan the rest of the task: {reason}"[:1000],
            "input": {
                "op": "replan",
                "reason": reason,
                "from_step": claim.step_id,
                "finished": {
                    sid: json.dumps(out, default=str)[:_SUMMARY_CHARS]
                    for sid, out in outputs.items()
                    if sid != PLAN_STEP_ID
                },
                "replaced": [
                    {"step_id": r.step_id, "arm": r.arm, "action": r.action}
                    for r in pending
                    if r.step_id in skipped
                ],
            },
            "depends_on": [claim.step_id],
            "critical": True,
            "position": max(r.position for r in rows) + 1,
            "level": max(r.level for r in rows) + 1,
            "status": StepStatus.QUEUED.value,
            "generation": generation,
            "attempts": 0,
            "max_attempts": task.max_retries + 1,
            "queued_at": datetime.now(UTC),
        }
        step_repo.insert_steps(session, [row])
        task_repo.set_generation(session, task.id, generation)
        round_repo.record(
            session, decision="replan", reason=reason, replaced=skipped, steps=[step_id], **base
        )
        rt.emit(
            EventType.TASK_REPLANNING,
            task.id,
            task.tenant,
            session=session,
            request_id=task.request_id,
            reason=reason,
            from_step=claim.step_id,
            replaced=skipped,
            step_id=step_id,
            generation=generation,
        )
        return dispatch.enqueue(
            session, task.id, generation, expansion.specs([row]), task.priority, finalize=False
        )


def prefixed(plan: Plan, replan_step_id: str) -> Plan:
    """The replanned steps renamed ``r<n>.<id>`` so they never collide with earlier ones."""
    tag = "r" + replan_step_id.removeprefix(PREFIX) + "."
    renamed = {s.step_id: (tag + s.step_id)[:64] for s in plan.steps}
    steps = [
        {
            **s.model_dump(),
            "step_id": renamed[s.step_id],
            "depends_on": [renamed.get(d, d) for d in s.depends_on],
        }
        for s in plan.steps
    ]
    return Plan.model_validate({**plan.model_dump(), "steps": steps})


def extend(session: Session, task: TaskRow, plan: Plan, replan_step: str) -> dispatch.Outbox:
    """Insert the replanned steps after the replan step and enqueue their canvas."""
    rows = step_repo.for_task(session, task.id)
    after = next(r for r in rows if r.step_id == replan_step)
    new_rows = expansion.rows(
        task.id,
        prefixed(plan, replan_step),
        task.generation,
        task.max_retries + 1,
        offset=max(r.position for r in rows) + 1,
        level_offset=after.level + 1,
    )
    step_repo.insert_steps(session, new_rows)
    return dispatch.enqueue(
        session, task.id, task.generation, expansion.specs(new_rows), task.priority
    )
