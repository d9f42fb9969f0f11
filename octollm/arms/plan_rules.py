"""Rule-based planning: OctoLLM's keyword decision tree, and the step inputs arms read.

The planner arm falls back to ``fallback_plan()`` when the model is unavailable or its plan is
unusable; ``default_input()`` also fills the keys a model's plan left out.

**Rule-based fallback** (OctoLLM's keyword decision tree, word matches, case-insensitive)::

    code, function, script, bug, program, implement, refactor, debug  -> coder
    search, find, look up, retrieve, document(ation)                  -> retriever
    run, execute, test, compute, calculate                            -> executor (+ coder)
    check                          -> executor when code is involved, otherwise judge only
    safe(ty), PII, secret, sensitive, redact                          -> guardian
    validate, verify                                                  -> judge
    (always)                                                          -> judge, last
    nothing matched                                    -> retriever (look the goal up), judge

Steps come in a fixed order, each depending on the ones it needs: ``search`` (retriever) ->
``code`` (coder, after search) -> ``run`` (executor, after code; the executor runs the code its
dependency wrote, so it never appears without a coder) -> ``screen`` (guardian, over the
outputs of the steps before it, or over the goal's text when it stands alone) -> ``verify``
(judge, after every earlier step). Arms outside the allowed set are left out. The ``planner``
never plans ``planner`` steps: the orchestrator does not expand nested plans.

Step inputs are what the arms read: coder ``{instruction, language, request_type}``, executor
``{language}``, judge ``{required_names}`` (identifiers the goal names, e.g. ``is_prime`` in
"function is_prime(n)"), retriever ``{query, method: "hybrid"}``, guardian ``{text_from:
"dependencies"}`` or ``{text}``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from octollm.arms import checks
from octollm.contracts.plan import Plan
from octollm.errors import PermanentError

_WORDS = {
    "coder": r"code|coding|functions?|scripts?|bugs?|program\w*|implement\w*|refactor\w*|debug\w*",
    "retriever": r"search\w*|find\w*|look(?:ing|s)?\s+up|lookup|retriev\w*|document\w*",
    "executor": r"run|runs|running|execut\w*|tests?|testing|comput\w*|calculat\w*",
    "check": r"check|checks|checking",
    "guardian": r"safe|safety|pii|secrets?|sensitive|redact\w*",
}
_MATCH = {key: re.compile(rf"\b(?:{words})\b", re.IGNORECASE) for key, words in _WORDS.items()}
_LANGUAGE = re.compile(r"\b(python|javascript|typescript|rust|golang|bash|java|ruby)\b", re.I)
_NAME_PATTERNS = (
    re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\("),  # is_prime(n)
    re.compile(r"`([A-Za-z_][A-Za-z0-9_]*)`"),  # `slugify`
    re.compile(r"\bdef\s+([A-Za-z_][A-Za-z0-9_]*)"),  # def parse
    re.compile(r"\bclass\s+([A-Z][A-Za-z0-9_]*)"),  # class Parser
)


def unique_id(wanted: str, taken: set[str]) -> str:
    candidate, number = wanted, 2
    while candidate in taken:
        candidate = f"{wanted[:60]}_{number}"
        number += 1
    return candidate


def decide_arms(goal: str) -> set[str]:
    """The keyword decision tree: which arms the goal needs (``judge`` always)."""
    hits = {key for key, pattern in _MATCH.items() if pattern.search(goal)}
    wanted = {"judge"}
    if "coder" in hits:
        wanted.add("coder")
    if "executor" in hits or ("check" in hits and "coder" in hits):
        wanted |= {"executor", "coder"}
    if "retriever" in hits:
        wanted.add("retriever")
    if "guardian" in hits:
        wanted.add("guardian")
    return wanted


def fallback_plan(goal: str, arms: frozenset[str], acceptance: Iterable[str] = ()) -> Plan:
    """The decision tree's plan for ``goal``, using only ``arms``."""
    wanted = decide_arms(goal)
    if wanted == {"judge"}:
        wanted.add("retriever")  # nothing matched: look the goal up, then judge
    wanted &= arms
    if "coder" not in wanted:
        wanted.discard("executor")  # it runs the code a coder step wrote
    steps: list[dict[str, Any]] = []

    def add(step_id: str, arm: str, action: str, depends_on: list[str]) -> None:
        steps.append(
            {
                "step_id": step_id,
                "arm": arm,
                "action": action[:1000],
                "input": default_input(arm, goal),
                "depends_on": depends_on,
            }
        )

    if "retriever" in wanted:
        add("search", "retriever", f"Search the knowledge base for: {goal}", [])
    if "coder" in wanted:
        add("code", "coder", f"Write the code: {goal}", [s["step_id"] for s in steps])
    if "executor" in wanted:
        add("run", "executor", "Run the generated code in the sandbox", ["code"])
    if "guardian" in wanted:
        add("screen", "guardian", "Screen for PII, secrets and unsafe content", [])
        if len(steps) > 1:
            steps[-1]["depends_on"] = [s["step_id"] for s in steps[:-1]]
        else:
            steps[-1]["input"] = {"text": goal}
    if "judge" in wanted:
        steps.append(judge_step(goal, [s["step_id"] for s in steps], acceptance, steps))
    if not steps:
        raise PermanentError(
            "no arm available for a fallback plan", details={"allowed_arms": sorted(arms)}
        )
    matched = ", ".join(sorted(decide_arms(goal)))
    return Plan.model_validate(
        {
            "steps": steps,
            "rationale": f"Rule-based fallback plan (keyword decision tree matched: {matched}).",
            "confidence": 0.5,
            "source": "fallback",
        },
        context={"arms": arms},
    )


def judge_step(
    goal: str, depends_on: list[str], acceptance: Iterable[str], taken: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "step_id": unique_id("verify", {s["step_id"] for s in taken}),
        "arm": "judge",
        "action": "Verify the results against the goal and its acceptance criteria",
        "input": default_input("judge", goal),
        "depends_on": depends_on,
        "acceptance_criteria": list(acceptance)[:10],
    }


def default_input(arm: str, goal: str) -> dict[str, Any]:
    """What each built-in arm reads from its step input; plugin arms get ``{}``."""
    language = detect_language(goal)
    if arm == "coder":
        return {"instruction": goal, "language": language, "request_type": request_type(goal)}
    if arm == "executor":
        calls = checks.from_goal(goal) if language == "python" else []
        return {"language": language, **({"calls": calls} if calls else {})}
    if arm == "judge":
        return {"required_names": required_names(goal)}
    if arm == "retriever":
        return {"query": goal[:500], "method": "hybrid"}
    if arm == "guardian":
        return {"text_from": "dependencies"}
    return {}


def detect_language(goal: str) -> str:
    found = _LANGUAGE.search(goal)
    if found is None:
        return "python"
    name = found.group(1).lower()
    return "go" if name == "golang" else name


def request_type(goal: str) -> str:
    text = goal.lower()
    if re.search(r"\b(bug|bugs|debug\w*|fix\w*)\b", text):
        return "debug"
    if re.search(r"\brefactor\w*", text):
        return "refactor"
    if re.search(r"\bexplain\w*", text):
        return "explain"
    if re.search(r"\bunit tests?\b|\btests? for\b", text):
        return "test"
    return "generate"


def required_names(goal: str) -> list[str]:
    """Identifiers the goal names: ``name(``, ```name```, ``def name``, ``class Name``."""
    names: list[str] = []
    for pattern in _NAME_PATTERNS:
        for found in pattern.findall(goal):
            if found not in names:
                names.append(found)
    return names
