"""Layer 7a: acceptance criteria the Judge can decide without a model.

A criterion is split into clauses on "and"/";". When every clause matches a rule below, the
criterion is decided here: passed, failed, or undecidable (a rule matched but the evidence is
missing, e.g. "runs without error" with no executor result). Otherwise it is left to the LLM
(when allowed) or marked ambiguous.

Rules: defines function/class/name X; runs without error / exits 0; prints or outputs "Y";
valid syntax; no security issues; passes lint; has docstrings; has type hints; at most N lines;
imports/uses module X; does not use/call/import X.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from octollm.arms.judging.artefact import Execution, Gap

Status = Literal["passed", "failed", "undecidable"]


@dataclass(frozen=True)
class Verdict:
    criterion: str
    status: Literal["passed", "failed", "ambiguous"]
    evidence: str
    method: Literal["deterministic", "llm", "none"]


@dataclass
class Evidence:
    """What the deterministic rules may consult."""

    code: str | None = None
    tree: ast.Module | None = None
    names: set[str] = field(default_factory=set)
    executions: list[Execution] = field(default_factory=list)
    #: The output to search for printed text: only one the caller gave (or a non-code
    #: dependency's), never a coder's output, whose source would contain the literal itself.
    output: Any = None
    has_output: bool = False
    #: Dependencies that failed: a criterion that needed their output (a run's result) fails.
    gaps: list[Gap] = field(default_factory=list)
    security_errors: int | None = None  # None: the security layer did not run
    lint_findings: int | None = None  # None: lint did not run


Outcome = tuple[Status, str]
_NAME = r"[`'\"]?([A-Za-z_][\w.]*)[`'\"]?(?:\(\))?"
_STOP = frozenset(
    {"that", "which", "to", "for", "with", "named", "called", "the", "a", "an", "and", "or",
     "returning", "returns", "should", "must", "can", "is", "it", "in", "of", "on", "all"}
)  # fmt: skip


def _defines(ev: Evidence, name: str) -> Outcome:
    if ev.tree is None:
        return "failed", "no parseable code to look for the name in"
    if name in ev.names:
        return "passed", f"`{name}` is defined"
    return "failed", f"`{name}` is not defined"


def _failed_dependency(ev: Evidence) -> Outcome | None:
    """A run the criterion needed failed as a step: the criterion fails (never a warning)."""
    if not ev.gaps:
        return None
    gap = ev.gaps[0]
    error = gap.error.get("error") if isinstance(gap.error.get("error"), dict) else gap.error
    code = error.get("code", "STEP_FAILED") if isinstance(error, dict) else "STEP_FAILED"
    return "failed", f"step {gap.step_id} failed ({code}), so its result is missing"


def _runs(ev: Evidence, _: str) -> Outcome:
    if not ev.executions:
        return _failed_dependency(ev) or ("undecidable", "no execution result to check against")
    bad = [e for e in ev.executions if not e.ok or e.failed_checks]
    if bad:
        e = bad[0]
        why = (
            "timed out"
            if e.timed_out
            else f"exited with code {e.exit_code}"
            if not e.ok
            else f"failed check {e.failed_checks[0]} (raised or returned None)"
        )
        return "failed", f"step {e.step_id} {why}"
    return "passed", "every execution exited with code 0"


def _prints(ev: Evidence, expected: str) -> Outcome:
    if ev.executions:
        if any(expected in e.stdout for e in ev.executions if e.ok):
            return "passed", f"stdout contains {expected!r}"
        return "failed", f"no successful execution printed {expected!r}"
    if ev.has_output:
        text = ev.output if isinstance(ev.output, str) else json.dumps(ev.output, default=str)
        if expected in text:
            return "passed", f"the output contains {expected!r}"
        return "failed", f"the output does not contain {expected!r}"
    return _failed_dependency(ev) or (
        "undecidable",
        "no execution result or output to check against",
    )


def _syntax(ev: Evidence, _: str) -> Outcome:
    if ev.code is None:
        return "failed", "no code was produced"
    return ("passed", "the code parses") if ev.tree else ("failed", "the code has a syntax error")


def _secure(ev: Evidence, _: str) -> Outcome:
    if ev.security_errors is None:
        return "undecidable", "the security layer did not run"
    if ev.security_errors:
        return "failed", f"{ev.security_errors} security error(s) found"
    return "passed", "no security errors found"


def _lint(ev: Evidence, _: str) -> Outcome:
    if ev.lint_findings is None:
        return "undecidable", "lint did not run"
    if ev.lint_findings:
        return "failed", f"{ev.lint_findings} lint finding(s)"
    return "passed", "ruff reports no findings"


def _functions(ev: Evidence) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    assert ev.tree is not None
    return [n for n in ast.walk(ev.tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


def _docstrings(ev: Evidence, _: str) -> Outcome:
    if ev.tree is None:
        return "failed", "no parseable code"
    defs = [
        n
        for n in ast.walk(ev.tree)
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    ]
    public = [d for d in defs if not d.name.startswith("_")]
    missing = [d.name for d in public if ast.get_docstring(d) is None]
    if missing:
        return "failed", f"no docstring on: {', '.join(missing[:10])}"
    return "passed", f"{len(public)} public definition(s) documented"


def _type_hints(ev: Evidence, _: str) -> Outcome:
    if ev.tree is None:
        return "failed", "no parseable code"
    missing = []
    for fn in _functions(ev):
        args = [*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs]
        unannotated = [a.arg for a in args if a.annotation is None and a.arg not in {"self", "cls"}]
        if unannotated or fn.returns is None:
            missing.append(fn.name)
    if missing:
        return "failed", f"missing annotations in: {', '.join(missing[:10])}"
    return "passed", "every function is annotated"


def _max_lines(ev: Evidence, limit: str) -> Outcome:
    if ev.code is None:
        return "failed", "no code was produced"
    lines = sum(1 for line in ev.code.splitlines() if line.strip())
    verdict: Status = "passed" if lines <= int(limit) else "failed"
    return verdict, f"{lines} non-blank line(s), limit {limit}"


def _imported(ev: Evidence) -> set[str]:
    found: set[str] = set()
    assert ev.tree is not None
    for node in ast.walk(ev.tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
            found.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.update({node.module, node.module.split(".")[0]})
    return found


def _imports(ev: Evidence, module: str) -> Outcome:
    if ev.tree is None:
        return "failed", "no parseable code"
    if module in _imported(ev):
        return "passed", f"`{module}` is imported"
    return "failed", f"`{module}` is not imported"


def _avoids(ev: Evidence, name: str) -> Outcome:
    if ev.tree is None:
        return "failed", "no parseable code"
    if name in _imported(ev):
        return "failed", f"`{name}` is imported"
    for node in ast.walk(ev.tree):
        func = node.func if isinstance(node, ast.Call) else None
        called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if called == name.rsplit(".", 1)[-1]:
            return "failed", f"`{name}` is called on line {getattr(node, 'lineno', '?')}"
    return "passed", f"`{name}` is not used"


_Q = "[`'\"]"  # an opening or closing quote
_AVOIDS = (
    r"\b(?:does\s+not|doesn'?t|must\s+not|should\s+not|never|avoids?)\s+"
    r"(?:use|call|import)s?\s+" + _NAME
)
_SYNTAX = (
    r"\b(?:no\s+syntax\s+errors?|valid\s+(?:python|syntax)|syntactically\s+(?:valid|correct)"
    r"|(?:compiles|parses)(?:\s+cleanly)?$)"
)
_SECURE = r"\bno\s+(?:security\s+(?:issues|problems|errors|vulnerabilities)|vulnerabilities)\b"
_LINT = (
    r"\b(?:passes\s+(?:lint|linting|ruff|flake8)|lint[- ]clean"
    r"|no\s+lint(?:ing)?\s+(?:errors|warnings|issues|findings))\b"
)
_RUNS = (
    r"\b(?:runs?|executes?|completes?|works?)\s+(?:without|with\s+no)\s+(?:any\s+)?"
    r"(?:errors?|exceptions?|crash(?:ing|es)?|failures?)\b"
)
_EXITS = (
    r"\b(?:exits?|returns?)\s+(?:with\s+)?(?:exit\s+)?(?:code|status)\s+0\b"
    r"|\b(?:runs|executes)\s+successfully\b"
)
_PRINTS = (
    r"\b(?:prints?|outputs?|writes?|displays?|echoe?s?|emits?)\s+(?:the\s+)?"
    r"(?:text\s+|string\s+|message\s+|line\s+)?" + _Q + "(.+?)" + _Q
)
_CONTAINS = r"\b(?:stdout|output)\s+(?:contains|includes|shows)\s+" + _Q + "(.+?)" + _Q
_DOCS = r"\b(?:has|have|includes?|with|contains?)\s+(?:a\s+)?docstrings?\b|\bis\s+documented\b"
_HINTS = r"\b(?:type\s+(?:hints?|annotations?)|fully\s+(?:typed|annotated))\b"
_LINES = (
    r"\b(?:under|fewer\s+than|less\s+than|at\s+most|no\s+more\s+than|max(?:imum)?(?:\s+of)?"
    r"|within)\s+(\d+)\s+(?:non-blank\s+)?lines\b"
)
_IMPORTS = r"\b(?:imports?|uses?)\s+(?:the\s+)?" + _NAME + r"\s+(?:module|library|package)\b"
_DEFINES = (
    r"\b(?:defines?|declares?|has|have|contains?|provides?|implements?|includes?|exposes?)\s+"
    r"(?:an?\s+|the\s+)?(?:async\s+)?(?:function|method|class|variable|constant)\s+"
    r"(?:named\s+|called\s+)?" + _NAME
)
_EXISTS = (
    r"\b(?:function|method|class)\s+"
    + _NAME
    + r"\s+(?:is\s+)?(?:defined|exists|present|implemented)\b"
)
_DEFINES_NAME = (
    r"\bdefines?\s+" + _Q + r"([A-Za-z_][\w.]*)" + _Q + r"|\bdefines?\s+([A-Za-z_][\w.]*)\(\)"
)

_RULES: tuple[tuple[re.Pattern[str], Callable[[Evidence, str], Outcome]], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), rule)
    for pattern, rule in (
        (_AVOIDS, _avoids),
        (_SYNTAX, _syntax),
        (_SECURE, _secure),
        (_LINT, _lint),
        (_RUNS, _runs),
        (_EXITS, _runs),
        (_PRINTS, _prints),
        (_CONTAINS, _prints),
        (_DOCS, _docstrings),
        (_HINTS, _type_hints),
        (_LINES, _max_lines),
        (_IMPORTS, _imports),
        (_DEFINES, _defines),
        (_EXISTS, _defines),
        (_DEFINES_NAME, _defines),
    )
)

_QUOTED = re.compile(r"\"[^\"]*\"|`[^`]*`|(?<!\w)'[^']*'(?!\w)")
_CLAUSE_SPLIT = re.compile(r"\s*(?:;|\band\b)\s*", re.IGNORECASE)


def clauses(criterion: str) -> list[str]:
    """Split on "and"/";" outside quotes: ``prints "salt and pepper"`` stays whole."""
    quoted: list[str] = []

    def hide(m: re.Match[str]) -> str:
        quoted.append(m.group(0))
        return f"\x00{len(quoted) - 1}\x00"

    masked = _QUOTED.sub(hide, criterion.strip().rstrip("."))
    parts = [p for p in _CLAUSE_SPLIT.split(masked) if p.strip()]
    return [re.sub(r"\x00(\d+)\x00", lambda m: quoted[int(m.group(1))], p) for p in parts]


def _clause(text: str, ev: Evidence) -> Outcome | None:
    for pattern, rule in _RULES:
        m = pattern.search(text)
        if not m:
            continue
        arg = next((g for g in m.groups() if g), "")
        if rule in (_defines, _imports, _avoids) and arg.lower() in _STOP:
            continue
        return rule(ev, arg)
    return None


def decide(criterion: str, ev: Evidence) -> Outcome | None:
    """The deterministic outcome, or None when some clause matches no rule."""
    outcomes: list[Outcome] = []
    for clause in clauses(criterion) or [criterion]:
        outcome = _clause(clause, ev)
        if outcome is None:
            return None
        outcomes.append(outcome)
    worst: tuple[Status, ...] = ("failed", "undecidable")
    for status in worst:
        hit = [why for s, why in outcomes if s == status]
        if hit:
            return status, "; ".join(hit)
    return "passed", "; ".join(why for _, why in outcomes)
