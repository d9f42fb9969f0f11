"""The coder arm: generate, debug, refactor, test or explain code with the task's LLM.

Input ``{instruction?, language="python", request_type="generate", existing_code?}``;
``instruction`` defaults to the task's goal; ``request_type`` is one of generate, debug,
refactor, explain, test. Outputs of the steps this one depends on are shown to the model as
context, and a dependency's ``code`` stands in for a missing ``existing_code``.

Flow (OctoLLM's coder, without episodic memory yet): prompt for exactly one fenced code block
-> extract the code (a fenced block; else a JSON ``code`` field; else the whole reply when it
is valid code) -> check Python with ``ast.parse`` plus a compile of the tree (which also
catches e.g. ``return`` outside a function) -> on a problem, show the model the error and ask
for the corrected code, **at most 2 fix attempts** -> ``PermanentError`` naming the last
problem (line and message) when none is valid. Other languages are not checked (a warning
says so). When the instruction asks to check, test, run or print something, the model is asked
for an ``if __name__ == "__main__":`` block that prints the checks, so the executor's output
shows them.

Output ``{code, language, explanation, confidence, warnings, request_type, fix_attempts}``.
The arm only uses ``ctx.llm``; it imports no I/O framework.
"""

from __future__ import annotations

import ast
import json
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

from octollm.arms.base import ArmContext, ArmResult
from octollm.errors import InvalidInput, PermanentError

MAX_FIX_ATTEMPTS = 2
REQUEST_TYPES = frozenset({"generate", "debug", "refactor", "explain", "test"})

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

    def run(self, input: dict[str, Any], ctx: ArmContext) -> ArmResult:
        instruction = str(input.get("instruction") or ctx.goal).strip()
        language = str(input.get("language") or "python").strip().lower()
        request_type = str(input.get("request_type") or "generate").strip().lower()
        if not instruction:
            raise InvalidInput("the coder needs an instruction")
        if request_type not in REQUEST_TYPES:
            raise InvalidInput(
                f"request_type {request_type!r} is not one of {', '.join(sorted(REQUEST_TYPES))}"
            )
        context, dependency_code = dependency_context(ctx.dependencies)
        existing = str(input.get("existing_code") or dependency_code or "")
        warnings_out: list[str] = []
        if request_type in {"debug", "refactor", "explain", "test"} and not existing:
            warnings_out.append(f"{request_type} request without existing code")
        wants_demo = (
            language == "python"
            and request_type != "explain"
            and bool(_WANTS_DEMO.search(instruction))
        )
        messages = build_messages(
            instruction, language, request_type, existing, context, ctx.constraints, wants_demo
        )
        if request_type == "explain":
            return self._explain(messages, existing, language, warnings_out, ctx)

        fix_attempts = 0
        while True:
            ctx.check_cancelled()
            ctx.ensure_time()
            reply = ctx.llm.chat(messages)
            extracted = extract_code(reply.text, language)
            problem = code_problem(extracted.code, language)
            if problem is None:
                break
            if fix_attempts >= MAX_FIX_ATTEMPTS:
                raise PermanentError(
                    f"the coder got no valid {language} code after {MAX_FIX_ATTEMPTS} fix "
                    f"attempts; last problem: {problem}",
                    details={
                        "reason": "CODE_INVALID",
                        "problem": problem,
                        "fix_attempts": fix_attempts,
                    },
                )
            fix_attempts += 1
            messages = [
                *messages,
                {"role": "assistant", "content": reply.text},
                fix_request(problem, language),
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
        output = {
            "code": code,
            "language": language,
            "explanation": extracted.explanation,
            "confidence": confidence,
            "warnings": warnings_out,
            "request_type": request_type,
            "fix_attempts": fix_attempts,
        }
        return ArmResult(
            output, confidence=confidence, model=reply.model or None, warnings=warnings_out
        )

    def _explain(
        self,
        messages: list[dict[str, str]],
        existing: str,
        language: str,
        warnings_out: list[str],
        ctx: ArmContext,
    ) -> ArmResult:
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
        return ArmResult(output, confidence=0.7, model=reply.model or None, warnings=warnings_out)


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


def code_problem(code: str | None, language: str) -> str | None:
    """What is wrong with ``code`` (``"line 3: invalid syntax"``), or None when it is fine."""
    if not code or not code.strip():
        return "the reply holds no code"
    if language != "python":
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. invalid escape sequences: valid code still
            tree = ast.parse(code)
            compile(tree, "<generated>", "exec", dont_inherit=True)
    except SyntaxError as exc:
        line = (exc.text or "").strip()
        where = f"line {exc.lineno}: {exc.msg}"
        return f"{where} ({line[:120]!r})" if line else where
    except ValueError as exc:  # e.g. a NUL byte in the source
        return str(exc)
    return None


def code_confidence(language: str, fix_attempts: int, claimed: Any) -> float:
    base = 0.85 if language == "python" else 0.6
    value = base - 0.15 * fix_attempts
    if isinstance(claimed, int | float) and 0 <= claimed <= 1:
        value = min(value, float(claimed))
    return round(max(0.1, value), 2)
