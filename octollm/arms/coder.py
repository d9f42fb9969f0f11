"""The coder arm: generate, debug, refactor, test or explain code with the task's LLM.

Input ``{instruction?, language="python", request_type="generate", existing_code?}``;
``instruction`` defaults to the task's goal; ``request_type`` is one of generate, debug,
refactor, explain, test. Outputs of the steps this one depends on are shown to the model as
context, and a dependency's ``code`` stands in for a missing ``existing_code``.

Flow (OctoLLM's coder): recall similar accepted solutions from episodic memory
(``ctx.services["coder_memory"]``, Qdrant ``coder_memory``) and show the best two to the model
-> prompt for exactly one fenced code block -> extract the code (a fenced block; else a JSON
``code`` field; else the whole reply when it is valid code) -> **review** it
(``code_review``): the judge arm, called through its queue (``ctx.services["arm_caller"]``),
for syntax, lint and security errors, or the local syntax check when the judge cannot be
reached -> on a problem, show the model the errors and ask for the corrected code, **at most 2
fix attempts** -> ``PermanentError`` naming the last problem when the code still does not
parse; a remaining non-syntax judge error is returned as a warning with the code -> store
the accepted solution back into memory. Memory is best effort: without it the coder works
and says so in ``warnings``. Other languages are not checked (a warning says so). When the
instruction asks to check, test, run or print something, the model is asked for an
``if __name__ == "__main__":`` block that prints the checks, so the executor's output shows
them.

Output ``{code, language, explanation, confidence, warnings, request_type, fix_attempts,
review: {by, iterations, valid, issues}, memory: {recalled, stored}}``.
The arm uses ``ctx.llm`` and ``ctx.services``; it imports no I/O framework.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from octollm.arms import repair_note
from octollm.arms.base import ArmContext, ArmResult
from octollm.arms.code_review import Review, code_problem, review
from octollm.arms.collaboration import SolutionMemory
from octollm.contracts.arm_io import CoderInput, CoderOutput
from octollm.errors import InvalidInput, OctoError, PermanentError

__all__ = ["MAX_FIX_ATTEMPTS", "CoderArm", "code_problem", "extract_code"]

MAX_FIX_ATTEMPTS = 2

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+#.-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_ALIASES = {"python": {"python", "py", "python3"}, "javascript": {"javascript", "js"}}
_WANTS_DEMO = re.compile(
    r"\b(check|test|try|run|verify|print|show|call|demonstrate|evaluate)\w*\b", re.IGNORECASE
)
_TASKS = {
    "generate": "Write the code for this task.",
    "debug": "Find and fix the bugs in the code below for this task.",
    "refactor": "Refactor the code below for this task without changing what it does.",
    "test": "Write tests for the code below, as plain functions with assert statements.",
    "explain": "Explain what the code below does, step by step, in plain prose.",
}


@dataclass
class Extracted:
    """Code taken out of a reply, with what the model said around it."""

    code: str | None
    explanation: str = ""
    meta: dict[str, Any] = field(default_factory=dict)  # from a JSON reply: confidence, warnings


class CoderArm:
    """Code from the LLM, syntax-checked, with at most two fix rounds."""

    name = "coder"
    capabilities = frozenset(
        {
            "code_generation",
            "code_debugging",
            "code_refactoring",
            "code_explanation",
            "test_generation",
        }
    )

    input_model = CoderInput
    output_model = CoderOutput

    def run(self, input: CoderInput, ctx: ArmContext) -> ArmResult[CoderOutput]:
        instruction = (input.instruction or ctx.goal).strip()
        language = input.language
        request_type = input.request_type
        if not instruction:
            raise InvalidInput("the coder needs an instruction", details={"field": "instruction"})
        context, dependency_code = dependency_context(ctx.dependencies)
        existing = str(input.existing_code or dependency_code or "")
        if input.repair is not None:  # a repair round: the judge's findings
            context = f"{repair_note.note(input.repair)}\n{context}".strip()
            existing = existing or repair_note.previous(input.repair, "code")
        warnings_out: list[str] = []
        if request_type in {"debug", "refactor", "explain", "test"} and not existing:
            warnings_out.append(f"{request_type} request without existing code")
        wants_demo = (
            language == "python"
            and request_type != "explain"
            and bool(_WANTS_DEMO.search(instruction))
        )
        if request_type == "explain":
            messages = build_messages(
                instruction, language, request_type, existing, context, ctx.constraints, False
            )
            return self._explain(messages, existing, language, warnings_out, ctx)
        memory = ctx.services.get("coder_memory")
        recalled = recall(memory, instruction, language, warnings_out)
        if recalled:
            context = f"{past_solutions(recalled)}\n{context}".strip()
        messages = build_messages(
            instruction, language, request_type, existing, context, ctx.constraints, wants_demo
        )

        fix_attempts = 0
        while True:
            ctx.check_cancelled()
            ctx.ensure_time()
            reply = ctx.llm.chat(messages)
            extracted = extract_code(reply.text, language)
            checked = review(extracted.code, language, ctx)
            warnings_out.extend(n for n in checked.notes if n not in warnings_out)
            if checked.problem is None:
                break
            if fix_attempts >= MAX_FIX_ATTEMPTS:
                if not checked.blocking:
                    warnings_out.append(f"the judge still reports: {checked.problem}")
                    break
                raise PermanentError(
                    f"the coder got no valid {language} code after {MAX_FIX_ATTEMPTS} fix "
                    f"attempts; last problem: {checked.problem}",
                    details={
                        "reason": "CODE_INVALID",
                        "problem": checked.problem,
                        "fix_attempts": fix_attempts,
                        "reviewed_by": checked.by,
                    },
                )
            fix_attempts += 1
            messages = [
                *messages,
                {"role": "assistant", "content": reply.text},
                fix_request(checked.problem, language),
            ]

        code = extracted.code or ""
        if language != "python":
            warnings_out.append(f"syntax of {language} code is not checked")
        if wants_demo and "__main__" not in code:
            warnings_out.append('the code has no `if __name__ == "__main__":` block of checks')
        claimed_warnings = extracted.meta.get("warnings")
        if isinstance(claimed_warnings, list):
            warnings_out.extend(str(w) for w in claimed_warnings if w)
        confidence = code_confidence(language, fix_attempts, extracted.meta.get("confidence"))
        if checked.problem is not None:
            confidence = round(min(confidence, 0.5), 2)
        stored = checked.problem is None and remember(
            memory, instruction, code, language, _quality(checked, confidence), warnings_out
        )
        output = {
            "code": code,
            "language": language,
            "explanation": extracted.explanation,
            "confidence": confidence,
            "warnings": warnings_out,
            "request_type": request_type,
            "fix_attempts": fix_attempts,
            "review": review_summary(checked, fix_attempts),
            "memory": {"recalled": len(recalled), "stored": bool(stored)},
        }
        return ArmResult(
            CoderOutput.model_validate(output),
            confidence=confidence,
            model=reply.model or None,
            warnings=warnings_out,
        )

    def _explain(
        self,
        messages: list[dict[str, str]],
        existing: str,
        language: str,
        warnings_out: list[str],
        ctx: ArmContext,
    ) -> ArmResult[CoderOutput]:
        ctx.check_cancelled()
        ctx.ensure_time()
        reply = ctx.llm.chat(messages)
        explanation = reply.text.strip()
        if not explanation:
            raise PermanentError(
                "the model returned an empty explanation", details={"reason": "EMPTY_REPLY"}
            )
        output = {
            "code": existing,
            "language": language,
            "explanation": explanation[:8000],
            "confidence": 0.7,
            "warnings": warnings_out,
            "request_type": "explain",
            "fix_attempts": 0,
        }
        return ArmResult(
            CoderOutput.model_validate(output),
            confidence=0.7,
            model=reply.model or None,
            warnings=warnings_out,
        )


def build_messages(
    instruction: str,
    language: str,
    request_type: str,
    existing: str,
    context: str,
    constraints: list[str],
    wants_demo: bool,
) -> list[dict[str, str]]:
    if request_type == "explain":
        system = f"You are an expert {language} programmer who explains code clearly."
    else:
        system = (
            f"You are an expert {language} programmer. Reply with exactly one fenced code block "
            f"(```{language}) holding the complete code, then one or two sentences explaining "
            "it. No other code blocks."
        )
    parts = [_TASKS[request_type], f"Task: {instruction}"]
    if wants_demo:
        parts.append(
            'End the code with an `if __name__ == "__main__":` block that runs the checks the '
            "task asks for and prints each result."
        )
    if existing:
        parts.append(f"Code:\n```{language}\n{existing}\n```")
    if constraints:
        parts.append("Constraints:\n" + "\n".join(f"- {c}" for c in constraints))
    if context:
        parts.append(f"Context from earlier steps:\n{context}")
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n\n".join(parts)}]


def fix_request(problem: str, language: str) -> dict[str, str]:
    return {
        "role": "user",
        "content": f"That code is not valid {language}: {problem}. Reply with the corrected, "
        f"complete code in one fenced ```{language} block.",
    }


def dependency_context(dependencies: dict[str, dict[str, Any]]) -> tuple[str, str | None]:
    """Earlier steps' outputs as prompt text (bounded), and the first ``code`` among them."""
    parts: list[str] = []
    code: str | None = None
    for step_id, output in dependencies.items():
        if "_gap" in output:
            parts.append(f"[{step_id}] failed and produced nothing.")
            continue
        if code is None and isinstance(output.get("code"), str):
            code = output["code"]
        rest = {k: v for k, v in output.items() if k != "code"}
        if rest:
            parts.append(f"[{step_id}] {json.dumps(rest, default=str)[:1500]}")
    return "\n".join(parts)[:4000], code


def extract_code(text: str, language: str) -> Extracted:
    """The code in a reply: a fenced block, a JSON ``code`` field, or the whole reply."""
    names = _ALIASES.get(language, {language})
    blocks = [(tag.lower(), body) for tag, body in _FENCE.findall(text)]
    for tag, body in blocks:
        if tag == "json":
            found = _from_json(body)
            if found is not None:
                return found
    for wanted in (names, {""}, None):
        for tag, body in blocks:
            if tag != "json" and (wanted is None or tag in wanted):
                return Extracted(body.strip("\n"), _FENCE.sub("", text).strip()[:4000])
    found = _from_json(text)
    if found is not None:
        return found
    return Extracted(text.strip() or None)


def _from_json(text: str) -> Extracted | None:
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        data = json.loads(text[start : end + 1])
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("code"), str):
        return None
    meta = {k: data[k] for k in ("confidence", "warnings") if k in data}
    return Extracted(data["code"], str(data.get("explanation") or "")[:4000], meta)


def code_confidence(language: str, fix_attempts: int, claimed: Any) -> float:
    base = 0.85 if language == "python" else 0.6
    value = base - 0.15 * fix_attempts
    if isinstance(claimed, int | float) and 0 <= claimed <= 1:
        value = min(value, float(claimed))
    return round(max(0.1, value), 2)


def recall(
    memory: Any, instruction: str, language: str, warnings_out: list[str]
) -> list[dict[str, Any]]:
    """Similar accepted solutions (best effort: a failing memory only adds a warning)."""
    if not isinstance(memory, SolutionMemory):
        return []
    try:
        return memory.recall(instruction, language, 2)
    except OctoError as exc:
        warnings_out.append(f"episodic memory unavailable ({exc.message[:120]})")
        return []


def remember(
    memory: Any,
    instruction: str,
    code: str,
    language: str,
    quality: float,
    warnings_out: list[str],
) -> bool:
    if not isinstance(memory, SolutionMemory):
        return False
    try:
        memory.remember(instruction, code, language, quality_score=quality)
    except OctoError as exc:
        note = f"episodic memory unavailable ({exc.message[:120]})"
        if note not in warnings_out:
            warnings_out.append(note)
        return False
    return True


def past_solutions(recalled: list[dict[str, Any]]) -> str:
    parts = ["Similar solutions accepted before (adapt, do not copy blindly):"]
    for item in recalled:
        code = str(item.get("code", ""))[:800]
        parts.append(f"- {str(item.get('instruction', ''))[:200]}\n```\n{code}\n```")
    return "\n".join(parts)


def _quality(checked: Review, confidence: float) -> float:
    verdict = checked.verdict or {}
    score = verdict.get("quality_score")
    return float(score) if isinstance(score, int | float) else confidence


def review_summary(checked: Review, fix_attempts: int) -> dict[str, Any]:
    issues = (checked.verdict or {}).get("issues", [])
    return {
        "by": checked.by,
        "iterations": fix_attempts + 1,
        "valid": checked.problem is None,
        "issues": [i for i in issues if i.get("severity") in ("error", "warning")][:10],
    }
