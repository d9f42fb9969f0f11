"""A validated plan -> the step rows Postgres keeps, and step rows -> the specs ``compile`` needs.

A plan step becomes one row, or, when it asks for a swarm, its variants plus an aggregator
(see ``swarm``). ``level`` and ``position`` are the plan's, so aggregation by level and plan
order see the steps the caller wrote; swarm variants are bookkeeping, hidden from the result.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from octollm.contracts.plan import Plan
from octollm.contracts.status import StepStatus
from octollm.orchestrator import swarm
from octollm.orchestrator.compile import StepSpec

#: The step that runs the planner when a task arrives without a plan.
PLAN_STEP_ID = "plan"


def check(plan: Plan) -> None:
    """Checks beyond the plan's structure (swarm settings); raises ``InvalidPlan``."""
    for step in plan.steps:
        swarm.spec_of(step.step_id, step.input)


def rows(
    task_id: str, plan: Plan, generation: int, max_attempts: int, *, offset: int = 0
) -> list[dict[str, Any]]:
    """Step rows for ``plan``; ``offset`` shifts positions and levels (after the plan step)."""
    level_of = {s.step_id: i for i, level in enumerate(plan.levels()) for s in level}
    now = datetime.now(UTC)
    out: list[dict[str, Any]] = []
    for index, step in enumerate(plan.steps):
        step_input = dict(step.input)
        if step.acceptance_criteria:
            step_input["acceptance_criteria"] = step.acceptance_criteria
        row = {
            "task_id": task_id,
            "step_id": step.step_id,
            "arm": step.arm,
            "action": step.action,
            "input": step_input,
            "depends_on": list(step.depends_on),
            "critical": step.critical,
            "position": offset + index,
            "level": level_of[step.step_id] + (1 if offset else 0),
            "status": StepStatus.QUEUED.value,
            "generation": generation,
            "attempts": 0,
            "max_attempts": max_attempts,
            "queued_at": now,
        }
        spec = swarm.spec_of(step.step_id, step_input)
        out.extend(swarm.expand(row, spec) if spec else [row])
    return out


def specs(rows_: Iterable[Any]) -> list[StepSpec]:
    """Compile specs from step rows (dicts or ``StepRow`` objects)."""

    def get(r: Any, name: str) -> Any:
        return r[name] if isinstance(r, dict) else getattr(r, name)

    return [StepSpec(get(r, "step_id"), get(r, "arm"), tuple(get(r, "depends_on"))) for r in rows_]
