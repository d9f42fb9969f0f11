"""A validated plan -> the step rows Postgres keeps, and step rows -> the specs ``compile`` needs.

A step routed by capability (``arm: "auto"``, ``input.capabilities``) gets its arm here, from
the live registry (``directory.resolve``): the row names the chosen arm and its input
keeps ``_routing`` (the capabilities, the arm, its score, whether live health was used). The
stored plan keeps ``auto``. ``check`` refuses a plan whose needs no arm can meet.

A plan step becomes one row, or, when it asks for a swarm, its variants plus an aggregator
(see ``swarm``). ``level`` and ``position`` are the plan's, so aggregation by level and plan
order see the steps the caller wrote; swarm variants are bookkeeping, hidden from the result.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from octollm.contracts.plan import AUTO_ARM, Plan, PlanStep, required_capabilities
from octollm.contracts.status import StepStatus
from octollm.orchestrator.engine import swarm
from octollm.orchestrator.engine.compile import StepSpec
from octollm.orchestrator.registry import directory


def check(plan: Plan) -> None:
    """Checks beyond the plan's structure (swarm settings); raises ``InvalidPlan``."""
    for step in plan.steps:
        swarm.spec_of(step.step_id, step.input)
        if step.arm == AUTO_ARM:
            routed(step)


def routed(step: PlanStep) -> tuple[str, dict[str, Any]]:
    """The arm of a step and its input (with ``_routing`` for a capability-routed step)."""
    if step.arm != AUTO_ARM:
        return step.arm, dict(step.input)
    need = required_capabilities(step)
    found = directory.resolve(need)
    routing = {
        "capabilities": need,
        "arm": found.choice.arm,
        "score": found.choice.score,
        "live_health": found.live,
    }
    return found.choice.arm, {**step.input, "_routing": routing}


def rows(
    task_id: str,
    plan: Plan,
    generation: int,
    max_attempts: int,
    *,
    offset: int = 0,
    level_offset: int | None = None,
) -> list[dict[str, Any]]:
    """Step rows for ``plan``; ``offset`` shifts positions, and levels by one (after the plan
    step) unless ``level_offset`` says by how much (after a replan step)."""
    shift = level_offset if level_offset is not None else (1 if offset else 0)
    level_of = {s.step_id: i for i, level in enumerate(plan.levels()) for s in level}
    now = datetime.now(UTC)
    out: list[dict[str, Any]] = []
    for index, step in enumerate(plan.steps):
        arm, step_input = routed(step)
        if step.acceptance_criteria:
            step_input["acceptance_criteria"] = step.acceptance_criteria
        row = {
            "task_id": task_id,
            "step_id": step.step_id,
            "arm": arm,
            "action": step.action,
            "input": step_input,
            "depends_on": list(step.depends_on),
            "critical": step.critical,
            "position": offset + index,
            "level": level_of[step.step_id] + shift,
            "status": StepStatus.QUEUED.value,
            "generation": generation,
            "attempts": 0,
            "max_attempts": max_attempts,
            "queued_at": now,
        }
        spec = swarm.spec_of(step.step_id, step_input)
        out.extend(swarm.expand(row, spec) if spec else [row])
    return out


def specs(rows_: Iterable[Any], *, quarantine: bool = False) -> list[StepSpec]:
    """Compile specs from step rows (dicts or ``StepRow`` objects); with ``quarantine``,
    suspect rows go to the quarantine lane (``recovery/isolation.py``)."""

    def get(r: Any, name: str, default: Any = None) -> Any:
        return r.get(name, default) if isinstance(r, dict) else getattr(r, name, default)

    return [
        StepSpec(
            get(r, "step_id"),
            get(r, "arm"),
            tuple(get(r, "depends_on")),
            quarantine=quarantine and bool(get(r, "suspect", False)),
        )
        for r in rows_
    ]
