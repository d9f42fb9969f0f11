"""The planner arm: turn a goal into a ``Plan`` (a DAG of 2-7 steps, each naming an arm).

Input ``{goal?, constraints?, context?, arms?}`` (``goal`` defaults to the task's goal; ``arms``
narrows the arms a plan may use). Output ``{plan, source, fallback_reason, repairs}`` where
``source`` is ``"llm"`` or ``"fallback"``.

**From the model.** The LLM is asked for JSON matching ``plan_schema()``. Its answer is then
*repaired* where that is safe, and nothing more:

- a dependency on an unknown, later or the same step is dropped (a number ``n`` that is no step
  id means the n-th step, as in OctoLLM's ``SubTask.depends_on: int[]``);
- duplicate step ids are renumbered (``code``, ``code_2``); later references mean the latest;
- a step id with characters outside ``[A-Za-z0-9_.-]`` is cleaned;
- an executor step that depends on no coder step is made to depend on the latest earlier one
  (it runs the code a coder wrote; with no earlier coder the plan is unusable);
- a missing ``input`` becomes ``{}``; the built-in arms' default inputs fill absent keys;
- a judge step with no dependency checks every earlier step; a guardian step with none
  screens the goal's text (``{"text": goal}``);
- a judge step is appended when the last step is not one.

More than 3 repairs make the plan unusable: the model did not follow the format, and its plan
is unlikely to mean what the goal asks.

The plan is unusable, and the fallback runs, when the model is unavailable or errs, returns no
JSON, names an arm outside the allowed set, gives a step no action, has more than 7 steps or fewer
than 2 (after repair), leaves out a coder, executor or guardian that the decision tree (in
``plan_rules``) says the goal asks for (a model that plans "write and run code" without a coder
is wrong, however well-formed its JSON), or fails ``Plan`` validation.

The **rule-based fallback** (OctoLLM's keyword decision tree) lives in
``octollm.arms.plan_rules``, with the step inputs the arms read.

A plan whose work is prose (no coder step) gets an **integrate** step before its judge
(``arms.integration``); the planner pool runs it too (``input.op: "integrate"``). With
``input.op: "replan"`` the planner plans the rest of a task after an arm asked for replanning:
the reason and the finished steps' outputs go into the prompt's context.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

from octollm.arms import integration
from octollm.arms.base import ArmContext, ArmResult
from octollm.arms.plan_rules import decide_arms, default_input, fallback_plan, judge_step, unique_id
from octollm.contracts.arm_io import PlannerArmOutput, PlannerInput, PlannerOutput
from octollm.contracts.plan import BUILTIN_ARMS, Plan
from octollm.errors import InvalidInput, PermanentError, TransientError

MIN_STEPS, MAX_STEPS = 2, 7
#: A plan that needs more repairs than this shows a model that did not follow the format.
MAX_REPAIRS = 3

ARM_GUIDE = {
    "retriever": 'searches the knowledge base; input {"query": str, "method": "hybrid"}',
    "coder": 'writes code; input {"instruction": str, "language": "python", '
    '"request_type": "generate"}',
    "executor": 'runs the code written by the step it depends on; input {"language": "python"}',
    "guardian": 'screens text for PII, secrets and unsafe content; input {"text_from": '
    '"dependencies"}',
    "judge": 'checks the results against the goal; input {"required_names": [str]}',
}

_STEP_ID_BAD = re.compile(r"[^A-Za-z0-9_.-]+")
#: Arms whose absence from the model's plan makes it unusable when the goal asks for them.
_MUST_COVER = frozenset({"coder", "executor", "guardian"})


class Unusable(Exception):
    """The model's answer cannot be made into a plan; the message says why."""


class PlannerArm:
    """Goal -> Plan, from the LLM when it gives a usable plan, else from the decision tree."""

    name = "planner"
    capabilities = frozenset({"planning", "decomposition", "dependency_resolution"})

    input_model = PlannerInput
    output_model = PlannerArmOutput

    def run(self, input: PlannerInput, ctx: ArmContext) -> ArmResult[PlannerArmOutput]:
        if input.op == integration.OP:
            return integration.integrate(input, ctx)
        goal = (input.goal or ctx.goal).strip()
        if not goal:
            raise InvalidInput("the planner needs a goal", details={"field": "goal"})
        constraints = list(input.constraints or ctx.constraints)
        context = input.context
        if input.op == "replan":
            why = input.reason or "a step could not go on"
            context = {
                **context,
                "replanning": {
                    "reason": why,
                    "finished_steps": input.finished,
                    "replaced_steps": input.replaced,
                },
            }
            constraints = [
                *constraints,
                f"The previous plan could not go on ({why}); plan only the remaining work.",
            ]
        arms = allowed_arms(input.arms, ctx.services.get("arms"))
        ctx.check_cancelled()
        ctx.ensure_time()
        repairs: list[str] = []
        model: str | None = None
        try:
            messages = planning_messages(goal, constraints, context, arms)
            try:
                reply = ctx.llm.chat(messages, json_schema=plan_schema(arms))
            except (TransientError, PermanentError) as exc:
                raise Unusable(f"the LLM failed ({exc.code}): {exc.message}") from exc
            model = reply.model or None
            raw = reply.parsed if isinstance(reply.parsed, dict) else loads_object(reply.text)
            plan = plan_from_llm(raw, goal, arms, repairs, ctx.acceptance_criteria)
            source, reason = "llm", None
        except Unusable as exc:
            plan = fallback_plan(goal, arms, ctx.acceptance_criteria)
            source, reason, repairs = "fallback", str(exc), []
        plan = integration.with_integration(plan)
        output = {
            "plan": plan.model_dump(mode="json"),
            "source": source,
            "fallback_reason": reason,
            "repairs": repairs,
        }
        return ArmResult(
            PlannerArmOutput(PlannerOutput.model_validate(output)),
            confidence=plan.confidence,
            model=model,
            warnings=repairs,
        )


def allowed_arms(requested: Any, known: Any) -> frozenset[str]:
    """The arms a plan may use: ``requested`` (checked against ``known``) minus the planner."""
    known_set = frozenset(str(a) for a in known) if known else BUILTIN_ARMS
    if requested:
        if isinstance(requested, str) or not isinstance(requested, Iterable):
            raise InvalidInput("input.arms must be a list of arm names", details={"field": "arms"})
        chosen = frozenset(str(a) for a in requested)
        unknown = chosen - known_set
        if unknown:
            raise InvalidInput(
                f"input.arms names unknown arms {sorted(unknown)}",
                details={"field": "arms", "unknown": sorted(unknown), "known": sorted(known_set)},
            )
        known_set = chosen
    return known_set - {"planner"}


def plan_schema(arms: Iterable[str]) -> dict[str, Any]:
    """The JSON schema the model is asked to follow (arm names as an enum)."""
    step = {
        "type": "object",
        "properties": {
            "step_id": {"type": "string"},
            "arm": {"type": "string", "enum": sorted(arms)},
            "action": {"type": "string"},
            "input": {"type": "object"},
            "depends_on": {"type": "array", "items": {"type": "string"}},
            "critical": {"type": "boolean"},
        },
        "required": ["step_id", "arm", "action", "input", "depends_on", "critical"],
        "additionalProperties": False,
    }
    return {
        "title": "plan",
        "type": "object",
        "properties": {
            "steps": {"type": "array", "minItems": MIN_STEPS, "maxItems": MAX_STEPS, "items": step},
            "rationale": {"type": "string"},
        },
        "required": ["steps", "rationale"],
        "additionalProperties": False,
    }


def planning_messages(
    goal: str, constraints: list[str], context: Any, arms: frozenset[str]
) -> list[dict[str, str]]:
    guide = "\n".join(f"- {arm}: {ARM_GUIDE.get(arm, 'a plugin arm')}" for arm in sorted(arms))
    system = (
        f"You plan work for a team of arms. Split the goal into {MIN_STEPS} to {MAX_STEPS} "
        f"steps. Arms:\n{guide}\n"
        "Rules: every step has a unique step_id; depends_on lists only earlier step_ids; use "
        "only the arms above; the last step is a judge step that depends on the steps it "
        'checks. Reply with one JSON object {"steps": [...], "rationale": str}.'
    )
    user = f"Goal: {goal}"
    if constraints:
        user += "\nConstraints:\n" + "\n".join(f"- {c}" for c in constraints)
    if context:
        user += "\nContext: " + json.dumps(context, default=str)[:2000]
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def loads_object(text: str) -> dict[str, Any] | None:
    """A JSON object from a reply that may wrap it in a code fence; None when there is none."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        value = json.loads(text[start : end + 1])
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def plan_from_llm(
    raw: dict[str, Any] | None,
    goal: str,
    arms: frozenset[str],
    repairs: list[str],
    acceptance: Iterable[str] = (),
) -> Plan:
    """Repair and validate the model's plan; raise ``Unusable`` naming the first problem."""
    if raw is None:
        raise Unusable("the LLM returned no JSON plan")
    raw_steps = raw.get("steps")
    if raw_steps is None and isinstance(raw.get("plan"), dict | list):
        nested = raw["plan"]
        raw_steps = nested.get("steps") if isinstance(nested, dict) else nested
    steps = repair_steps(raw_steps, goal, arms, repairs, acceptance)
    missing = (decide_arms(goal) & arms & _MUST_COVER) - {s["arm"] for s in steps}
    if missing:
        raise Unusable(
            f"the LLM's plan leaves out {', '.join(sorted(missing))}, which the goal needs"
        )
    rationale = str(raw.get("rationale") or "")[:4000]
    confidence = max(0.4, 0.75 - 0.05 * len(repairs))
    data = {"steps": steps, "rationale": rationale, "confidence": confidence, "source": "llm"}
    try:
        return Plan.model_validate(data, context={"arms": arms})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise Unusable(f"the LLM's plan is invalid: {where}: {first['msg']}") from exc


def repair_steps(
    raw_steps: Any,
    goal: str,
    arms: frozenset[str],
    repairs: list[str],
    acceptance: Iterable[str] = (),
) -> list[dict[str, Any]]:
    """The model's steps with the safe repairs applied (see the module docstring)."""
    if not isinstance(raw_steps, list) or not raw_steps:
        raise Unusable("the LLM's plan has no steps")
    if len(raw_steps) > MAX_STEPS:
        raise Unusable(
            f"the LLM's plan has {len(raw_steps)} steps; at most {MAX_STEPS} are allowed"
        )
    steps: list[dict[str, Any]] = []
    latest: dict[str, str] = {}  # id as the model wrote it -> id of its latest earlier step
    for index, raw in enumerate(raw_steps):
        if not isinstance(raw, dict):
            raise Unusable(f"steps[{index}] is not an object")
        arm = str(raw.get("arm") or "").strip().lower()
        if arm not in arms:
            raise Unusable(f"steps[{index}] uses arm {arm!r}; allowed: {', '.join(sorted(arms))}")
        action = str(raw.get("action") or "").strip()
        if not action:
            raise Unusable(f"steps[{index}] has no action")
        written = str(raw.get("step_id") or "").strip()
        step_id = unique_id(clean_id(written) or f"step{index + 1}", {s["step_id"] for s in steps})
        if step_id != written:
            repairs.append(f"steps[{index}]: step id {written!r} became {step_id!r}")
        depends_on = resolve_dependencies(raw.get("depends_on"), latest, steps, step_id, repairs)
        if arm == "executor":
            depends_on = feed_executor(step_id, depends_on, steps, repairs)
        if arm == "judge" and not depends_on and steps:
            depends_on = [s["step_id"] for s in steps]
            repairs.append(f"{step_id}: a judge with no dependency now checks every earlier step")
        latest[written] = latest[step_id] = step_id
        given = raw.get("input")
        if given is not None and not isinstance(given, dict):
            repairs.append(f"{step_id}: input was not an object and was replaced")
        defaults = default_input(arm, goal)
        if arm == "guardian" and not depends_on:
            defaults = {"text": goal}  # nothing upstream to screen: screen the goal itself
        step_input = {**defaults, **(given if isinstance(given, dict) else {})}
        critical = raw.get("critical")
        steps.append(
            {
                "step_id": step_id,
                "arm": arm,
                "action": action[:1000],
                "input": step_input,
                "depends_on": depends_on,
                "critical": critical if isinstance(critical, bool) else True,
            }
        )
    if "judge" in arms and steps[-1]["arm"] != "judge":
        steps.append(judge_step(goal, [s["step_id"] for s in steps], acceptance, steps))
        repairs.append(f"appended judge step {steps[-1]['step_id']!r}")
    if len(repairs) > MAX_REPAIRS:
        raise Unusable(f"the LLM's plan needed {len(repairs)} repairs (at most {MAX_REPAIRS})")
    if len(steps) < MIN_STEPS:
        raise Unusable(f"the LLM's plan has {len(steps)} step; at least {MIN_STEPS} are needed")
    return steps


def resolve_dependencies(
    raw: Any,
    latest: dict[str, str],
    earlier: list[dict[str, Any]],
    step_id: str,
    repairs: list[str],
) -> list[str]:
    found: list[str] = []
    for dep in raw if isinstance(raw, list) else []:
        name = str(dep).strip()
        target = latest.get(name)
        if target is None and name.isdigit() and 1 <= int(name) <= len(earlier):
            target = earlier[int(name) - 1]["step_id"]  # OctoLLM's 1-based step numbers
        if target is None or target == step_id:
            repairs.append(f"{step_id}: dropped dependency {name!r} (not an earlier step)")
        elif target not in found:
            found.append(target)
    return found


def feed_executor(
    step_id: str, depends_on: list[str], earlier: list[dict[str, Any]], repairs: list[str]
) -> list[str]:
    """An executor runs the code a coder step wrote: make it depend on the latest coder."""
    arms = {s["step_id"]: s["arm"] for s in earlier}
    if any(arms[d] == "coder" for d in depends_on):
        return depends_on
    coders = [s["step_id"] for s in earlier if s["arm"] == "coder"]
    if not coders:
        raise Unusable(f"executor step {step_id!r} has no earlier coder step to run code from")
    repairs.append(f"{step_id}: now depends on coder step {coders[-1]!r} for its code")
    return [*depends_on, coders[-1]]


def clean_id(value: str) -> str:
    return _STEP_ID_BAD.sub("_", value).strip("_.-")[:64]
