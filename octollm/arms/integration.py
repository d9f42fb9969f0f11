"""The integrate step: the LLM writes the task's answer from the other steps' outputs.

A plan whose work is prose (no coder step) gets an integrate step before its final judge:
``{arm: "planner", input: {op: "integrate"}}``, depending on every earlier step; the judge then
checks the answer (its output) along with the rest. It runs on the planner pool. Its output is
``{answer, sources, model?}``; a repair round re-runs it with the judge's findings
(``input.repair``). Without a usable model the answer is the most useful text the steps
produced, and a warning says so.
"""

from __future__ import annotations

import json
from typing import Any

from octollm.arms import repair_note
from octollm.arms.base import ArmContext, ArmResult
from octollm.contracts.arm_io import IntegrateOutput, PlannerArmOutput, PlannerInput
from octollm.contracts.plan import Plan
from octollm.errors import OctoError

OP = "integrate"
STEP_ID = "integrate"
MAX_CONTEXT_CHARS = 12_000
_TEXT_KEYS = ("answer", "summary", "text", "explanation", "stdout", "code")


def with_integration(plan: Plan) -> Plan:
    """``plan`` with an integrate step before its final judge, when its work is prose."""
    steps = [s.model_dump() for s in plan.steps]
    arms = {s["arm"] for s in steps}
    if "coder" in arms or any((s["input"] or {}).get("op") == OP for s in steps):
        return plan
    judge = steps[-1] if steps[-1]["arm"] == "judge" else None
    work = steps[:-1] if judge else steps
    taken = {s["step_id"] for s in steps}
    step_id = STEP_ID if STEP_ID not in taken else f"{STEP_ID}_answer"
    integrate = {
        "step_id": step_id,
        "arm": "planner",
        "action": "Write the answer to the goal from the steps' results",
        "input": {"op": OP},
        "depends_on": [s["step_id"] for s in work],
        "critical": True,
        "acceptance_criteria": [],
    }
    if judge is not None:
        judge = {**judge, "depends_on": [*judge["depends_on"], step_id]}
    data = {**plan.model_dump(), "steps": [*work, integrate, *([judge] if judge else [])]}
    return Plan.model_validate(data)


def _material(dependencies: dict[str, dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """The steps' outputs as prompt text, and the numbered sources found by retrieval."""
    parts: list[str] = []
    sources: list[dict[str, Any]] = []
    for step_id, out in dependencies.items():
        if "_gap" in out:
            parts.append(f"[{step_id}] failed and produced nothing.")
            continue
        if isinstance(out.get("results"), list):
            for result in out["results"]:
                if not isinstance(result, dict):
                    continue
                sources.append(result)
                where = result.get("source") or (result.get("citation") or {}).get("source", "?")
                parts.append(f"[{len(sources)}] ({where}) {str(result.get('content', ''))[:1500]}")
            if not out["results"]:
                parts.append(f"[{step_id}] the search found no sources.")
            continue
        text = next((out[k] for k in _TEXT_KEYS if isinstance(out.get(k), str) and out[k]), None)
        if text is None:
            text = json.dumps({k: v for k, v in out.items() if k != "sandbox"}, default=str)
        parts.append(f"[{step_id}] {text[:2000]}")
    return "\n".join(parts)[:MAX_CONTEXT_CHARS], sources


def messages(goal: str, material: str, repair: Any) -> list[dict[str, str]]:
    system = (
        "You write the final answer for the user. Answer the goal directly and completely, "
        "using only the material given; cite numbered sources as [n]. If the material does not "
        "answer the goal, say so plainly. No preamble."
    )
    user = f"Goal: {goal}\n\nMaterial from the steps:\n{material or '(none)'}"
    if isinstance(repair, dict):
        user += "\n\n" + repair_note.note(repair)
        previous = repair_note.previous(repair, "answer")
        if previous:
            user += f"\n\nPrevious answer:\n{previous[:3000]}"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def integrate(input: PlannerInput, ctx: ArmContext) -> ArmResult[PlannerArmOutput]:
    ctx.check_cancelled()
    ctx.ensure_time()
    material, sources = _material(ctx.dependencies)
    warnings: list[str] = []
    try:
        reply = ctx.llm.chat(messages(ctx.goal, material, input.repair))
        answer, model = reply.text.strip(), reply.model or None
    except OctoError as exc:
        if exc.retryable and ctx.attempt < 2:
            raise
        answer, model = "", None
        warnings.append(f"the LLM could not write the answer ({exc.code})")
    if not answer:
        answer = material
        warnings.append("the answer is the steps' own text, not written by the LLM")
    output = IntegrateOutput(answer=answer, sources=len(sources), warnings=warnings)
    return ArmResult(
        PlannerArmOutput(output), confidence=0.7 if model else 0.4, model=model, warnings=warnings
    )
