"""Plan DAG -> one flat Celery canvas.

Topological levels form a chain; a level of several steps is a group; a group followed by a
step becomes a chord (Celery upgrades ``group | sig`` itself). Two groups in a row get a no-op
barrier between them, so no chord is ever nested. Every message carries ids only:
``(task_id, step_id, generation)``; inputs and outputs travel through Postgres.

Only chord header members store a result (Celery counts them on the Redis result backend);
every other signature ignores its result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from celery import Celery, chain, group
from celery.canvas import Signature

from octollm.contracts.plan import PlanStep, topological_levels
from octollm.contracts.status import Priority
from octollm.orchestrator import routing

STEP_TASK = "octollm.step.run"
FINALIZE_TASK = "octollm.task.finalize"
BARRIER_TASK = "octollm.task.barrier"


@dataclass(frozen=True)
class StepSpec:
    step_id: str
    arm: str
    depends_on: tuple[str, ...] = ()


@dataclass(frozen=True)
class Target:
    """Where messages go: the queue prefix and the broker (for its routing rules)."""

    prefix: str
    broker_url: str


def message_id(task_id: str, step_id: str, generation: int) -> str:
    """Deterministic Celery task id: lets cancel revoke queued steps and Flower show them."""
    return f"{task_id}.{step_id}.g{generation}"


def _levels(steps: list[StepSpec]) -> list[list[StepSpec]]:
    ids = {s.step_id for s in steps}
    as_plan = [
        PlanStep(
            step_id=s.step_id,
            arm=s.arm,
            action="-",
            depends_on=[d for d in s.depends_on if d in ids],
        )
        for s in steps
    ]
    by_id = {s.step_id: s for s in steps}
    return [[by_id[p.step_id] for p in level] for level in topological_levels(as_plan)]


def compile_canvas(
    app: Celery,
    task_id: str,
    generation: int,
    steps: list[StepSpec],
    urgency: Priority | str,
    target: Target,
    *,
    finalize: bool = True,
) -> Signature:
    """Compile ``steps`` (dependencies outside the list count as done) into one canvas."""
    if not steps:
        raise ValueError("nothing to compile")

    def step_sig(spec: StepSpec, keep_result: bool) -> Signature:
        options: dict[str, Any] = routing.route(target.prefix, spec.arm, urgency, target.broker_url)
        options["task_id"] = message_id(task_id, spec.step_id, generation)
        if not keep_result:
            options["ignore_result"] = True
        return app.signature(
            STEP_TASK, args=(task_id, spec.step_id, generation), immutable=True, **options
        )

    def control_sig(name: str) -> Signature:
        options = routing.route(target.prefix, routing.CONTROL_ARM, urgency, target.broker_url)
        return app.signature(
            name, args=(task_id, generation), immutable=True, ignore_result=True, **options
        )

    levels = _levels(steps)
    parts: list[Signature] = []
    previous_was_group = False
    for index, level in enumerate(levels):
        is_last = index == len(levels) - 1
        if len(level) == 1:
            parts.append(step_sig(level[0], keep_result=False))
            previous_was_group = False
            continue
        if previous_was_group:
            parts.append(control_sig(BARRIER_TASK))
        # Header members keep results only when something follows the group (a chord).
        keep = not is_last or finalize
        parts.append(group([step_sig(spec, keep_result=keep) for spec in level]))
        previous_was_group = True
    if finalize:
        parts.append(control_sig(FINALIZE_TASK))
    if len(parts) == 1:
        return parts[0]
    return chain(*parts)
