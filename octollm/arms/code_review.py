"""How the coder checks a candidate: the judge arm when it can be called, a local check else.

With ``ctx.services["arm_caller"]`` (and a Python candidate) the coder asks the **judge** arm
through its queue (a direct arm-to-arm call) for the ``syntax``, ``lint`` and ``security``
layers; every issue of severity ``error`` is a problem to fix, described with its line so the
model can act on it. When the judge cannot be reached (timeout, open circuit breaker, no
caller) the coder falls back to the **local** check: ``ast.parse`` plus a compile of the tree
(which also catches e.g. ``return`` outside a function); other languages are not checked.

A problem is *blocking* when the code is not code (no code, a syntax error): the coder must
not return it. A judge error of another kind (a security finding, say) is reported with the
code once the fix attempts are spent.
"""

from __future__ import annotations

import ast
import warnings
from dataclasses import dataclass, field
from typing import Any

from octollm.arms.base import ArmContext
from octollm.arms.collaboration import ArmCaller
from octollm.errors import OctoError

REVIEW_LAYERS = ["syntax", "lint", "security"]
_MAX_ISSUES = 5


@dataclass
class Review:
    problem: str | None
    by: str  # "judge" | "local"
    blocking: bool = False
    verdict: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


def review(code: str | None, language: str, ctx: ArmContext) -> Review:
    if not code or not code.strip():
        return Review("the reply holds no code", "local", blocking=True)
    caller = ctx.services.get("arm_caller")
    notes: list[str] = []
    if isinstance(caller, ArmCaller) and language == "python":
        request = {"code": code, "language": language, "validation_types": REVIEW_LAYERS}
        try:
            verdict = caller.call("judge", request, ctx)
        except OctoError as exc:
            notes.append(f"the judge could not be asked ({exc.code}): local syntax check used")
        else:
            errors = [i for i in verdict.get("issues", []) if i.get("severity") == "error"]
            return Review(
                describe(errors) if errors else None,
                "judge",
                blocking=any(i.get("type") == "syntax_error" for i in errors),
                verdict=verdict,
            )
    problem = code_problem(code, language)
    return Review(problem, "local", blocking=problem is not None, notes=notes)


def describe(issues: list[dict[str, Any]]) -> str:
    """The judge's errors as one line each: ``line 3: syntax error: ...``."""
    parts = []
    for issue in issues[:_MAX_ISSUES]:
        line = (issue.get("location") or {}).get("line")
        where = f"line {line}: " if line else ""
        text = f"{where}{issue.get('message', issue.get('type', 'error'))}"
        if issue.get("suggestion"):
            text += f" ({issue['suggestion']})"
        parts.append(text)
    more = len(issues) - _MAX_ISSUES
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


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
