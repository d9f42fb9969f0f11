"""A plan: a DAG of steps, each naming the arm that runs it.

Validation here is structural: unique ids, dependencies that exist, no cycle, and known arms
when the caller passes the registry's names through the validation context
(``Plan.model_validate(data, context={"arms": {...}})``; plugins make the set open-ended).
Errors name the step and the field.

A step may name what it needs instead of an arm: ``arm: "auto"`` with ``input.capabilities``
(a non-empty list of capability tags); the orchestrator picks the arm when it expands the plan
(``orchestrator.arm_routing``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

#: The arms octollm ships (OctoLLM's names). Plugins may add more.
BUILTIN_ARMS: frozenset[str] = frozenset(
    {"planner", "retriever", "coder", "executor", "judge", "guardian"}
)

#: The pseudo-arm of a step routed by capability (``input.capabilities``).
AUTO_ARM = "auto"

STEP_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
MAX_PLAN_STEPS = 200
# The planner's own step in every task's step table (one name, used everywhere).
PLAN_STEP_ID = "plan"


class PlanStep(BaseModel):
    """One node of the plan."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    step_id: str = Field(pattern=STEP_ID_PATTERN)
    arm: str = Field(pattern=r"^[a-z][a-z0-9_]{1,31}$")
    action: str = Field(min_length=1, max_length=1000, description="What this step does.")
    input: dict[str, Any] = Field(default_factory=dict)
    depends_on: list[str] = Field(default_factory=list, max_length=MAX_PLAN_STEPS)
    critical: bool = Field(default=True, description="A failed critical step fails the task.")
    acceptance_criteria: list[str] = Field(default_factory=list, max_length=10)


class Plan(BaseModel):
    """A validated DAG of steps."""

    model_config = ConfigDict(extra="forbid")

    steps: list[PlanStep] = Field(min_length=1, max_length=MAX_PLAN_STEPS)
    rationale: str = Field(default="", max_length=4000)
    confidence: float = Field(default=1.0, ge=0.0, le=1.0)
    source: str = Field(default="caller", description="caller | llm | fallback")

    @model_validator(mode="after")
    def _valid_dag(self, info: ValidationInfo) -> Plan:
        arms: frozenset[str] | None = None
        if isinstance(info.context, dict) and info.context.get("arms"):
            arms = frozenset(info.context["arms"])
        check_dag(self.steps, arms)
        return self

    def step(self, step_id: str) -> PlanStep:
        for step in self.steps:
            if step.step_id == step_id:
                return step
        raise KeyError(step_id)

    def levels(self) -> list[list[PlanStep]]:
        """Topological levels: each step sits one level below its deepest dependency."""
        return topological_levels(self.steps)


def check_dag(steps: Sequence[PlanStep], arms: Iterable[str] | None) -> None:
    """Raise ``ValueError`` naming the first problem: duplicate, unknown arm, dangling or cycle.

    ``arms=None`` skips the arm check (the registry, which knows plugins, checks it later)."""
    known = set(arms) if arms is not None else None
    ids: set[str] = set()
    for index, step in enumerate(steps):
        if step.step_id in ids:
            raise ValueError(f"steps[{index}]: duplicate step_id {step.step_id!r}")
        ids.add(step.step_id)
    for index, step in enumerate(steps):
        if step.arm == AUTO_ARM:
            _check_auto(index, step)
        elif known is not None and step.arm not in known:
            raise ValueError(
                f"steps[{index}] ({step.step_id}): unknown arm {step.arm!r}; "
                f"known arms: {', '.join(sorted(known or ()))}"
            )
        for dep in step.depends_on:
            if dep == step.step_id:
                raise ValueError(f"steps[{index}] ({step.step_id}): depends on itself")
            if dep not in ids:
                raise ValueError(
                    f"steps[{index}] ({step.step_id}): depends_on names missing step {dep!r}"
                )
        if len(set(step.depends_on)) != len(step.depends_on):
            raise ValueError(f"steps[{index}] ({step.step_id}): depends_on repeats a step")
    cycle = find_cycle(steps)
    if cycle:
        raise ValueError(f"plan has a cycle: {' -> '.join(cycle)}")


def required_capabilities(step: PlanStep) -> list[str]:
    """What a capability-routed step asks for (empty for a step that names its arm)."""
    if step.arm != AUTO_ARM:
        return []
    return [str(c) for c in step.input.get("capabilities", [])]


def _check_auto(index: int, step: PlanStep) -> None:
    caps = step.input.get("capabilities")
    ok = isinstance(caps, list) and 0 < len(caps) <= 20
    if not ok or not all(isinstance(c, str) and 0 < len(c) <= 64 for c in caps or []):
        raise ValueError(
            f"steps[{index}] ({step.step_id}): arm 'auto' needs input.capabilities, a list of "
            "1-20 capability names"
        )


def find_cycle(steps: Sequence[PlanStep]) -> list[str] | None:
    """Return one cycle as a list of step ids (first id repeated at the end), or None."""
    deps = {s.step_id: s.depends_on for s in steps}
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(deps, white)
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = grey
        stack.append(node)
        for dep in deps.get(node, []):
            if colour.get(dep) == grey:
                return [*stack[stack.index(dep) :], dep]
            if colour.get(dep) == white:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        colour[node] = black
        return None

    for node in deps:
        if colour[node] == white:
            found = visit(node)
            if found:
                return found
    return None


def topological_levels(steps: Sequence[PlanStep]) -> list[list[PlanStep]]:
    """Kahn's algorithm on dependants: level 0 has no dependencies; order within a level is
    the plan's order. (OctoLLM's guide reversed the edges; this does not.)"""
    by_id = {s.step_id: s for s in steps}
    level: dict[str, int] = {}
    remaining = {s.step_id: set(s.depends_on) for s in steps}
    dependants: dict[str, list[str]] = {s.step_id: [] for s in steps}
    for s in steps:
        for dep in s.depends_on:
            dependants[dep].append(s.step_id)
    frontier = [s.step_id for s in steps if not s.depends_on]
    for sid in frontier:
        level[sid] = 0
    while frontier:
        nxt: list[str] = []
        for sid in frontier:
            for child in dependants[sid]:
                remaining[child].discard(sid)
                level[child] = max(level.get(child, 0), level[sid] + 1)
                if not remaining[child]:
                    nxt.append(child)
        frontier = nxt
    if len(level) != len(steps) or any(remaining.values()):
        raise ValueError("plan has a cycle")
    depth = max(level.values(), default=-1) + 1
    out: list[list[PlanStep]] = [[] for _ in range(depth)]
    for s in steps:
        out[level[s.step_id]].append(by_id[s.step_id])
    return out
