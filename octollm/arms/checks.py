"""Call checks: simple calls such as ``is_prime(17)`` that the executor evaluates after running
a step's code, so "check it on 2, 15 and 17" is actually exercised and reported.

A check is validated before it reaches the sandbox: a single call of a plain name with literal
arguments only (numbers, strings, booleans, None, and tuples/lists of those). The harness
appended to the code prints one marked JSON line per check; ``parse_results`` takes those lines
back out of stdout as structured results.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

from octollm.errors import InvalidInput

MAX_CHECKS = 50
MAX_CHECK_CHARS = 200
MARKER = "##octollm-check## "

_VALUE = r"-?\d+(?:\.\d+)?|'[^'\n]{0,50}'|\"[^\"\n]{0,50}\"|True|False|None"
_LIST = re.compile(
    rf"\b(?:on|with|for|of|at)\s+((?:{_VALUE})(?:\s*(?:,\s*and|,|and)\s*(?:{_VALUE}))*)"
)
_SIGNATURE = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*\(\s*([A-Za-z_][A-Za-z0-9_]*)?\s*\)")


def validate(calls: object) -> list[str]:
    """The checks, each a ``name(literal, ...)`` call; ``InvalidInput`` names a bad one."""
    if calls is None:
        return []
    if not isinstance(calls, list) or len(calls) > MAX_CHECKS:
        raise InvalidInput(
            f"calls must be a list of at most {MAX_CHECKS} call expressions",
            details={"field": "calls", "max_items": MAX_CHECKS},
        )
    checked = []
    for index, call in enumerate(calls):
        if not isinstance(call, str) or not call.strip() or len(call) > MAX_CHECK_CHARS:
            raise InvalidInput(
                f"calls[{index}] must be a call of at most {MAX_CHECK_CHARS} chars",
                details={"field": f"calls.{index}", "max_length": MAX_CHECK_CHARS},
            )
        try:
            node = ast.parse(call.strip(), mode="eval").body
        except SyntaxError:
            raise InvalidInput(
                f"calls[{index}] is not a Python expression",
                details={"field": f"calls.{index}", "call": call},
            ) from None
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)) or node.keywords:
            raise InvalidInput(
                f"calls[{index}] must look like name(arg, ...)",
                details={"field": f"calls.{index}", "call": call},
            )
        for arg in node.args:
            try:
                ast.literal_eval(arg)
            except ValueError:
                raise InvalidInput(
                    f"calls[{index}]: arguments must be literals: {call!r}"
                ) from None
        checked.append(call.strip())
    return checked


def harness(calls: list[str]) -> str:
    """Python source to append after the code: evaluate each call, print a marked JSON line."""
    if not calls:
        return ""
    lines = ["", "", "# --- octollm call checks ---", "import json as _octo_json"]
    for call in calls:
        lines += [
            "try:",
            f"    _octo_value = {{'call': {call!r}, 'result': repr({call})}}",
            "except BaseException as _octo_exc:",
            f"    _octo_value = {{'call': {call!r}, "
            "'error': type(_octo_exc).__name__ + ': ' + str(_octo_exc)[:300]}",
            f"print({MARKER!r} + _octo_json.dumps(_octo_value), flush=True)",
        ]
    return "\n".join(lines) + "\n"


def parse_results(stdout: str) -> tuple[str, list[dict[str, Any]]]:
    """Split stdout into the program's own output and the check results.

    A marker need not start its line: a call that printed without a newline first (an
    ``input()`` prompt, say) leaves its text in front of it, which stays program output."""
    kept, results = [], []
    for line in stdout.splitlines(keepends=True):
        at = line.find(MARKER)
        if at < 0:
            kept.append(line)
            continue
        try:
            results.append(json.loads(line[at + len(MARKER) :]))
        except json.JSONDecodeError:
            kept.append(line)
            continue
        if at:
            kept.append(line[:at] + "\n")
    return "".join(kept), results


def from_goal(goal: str) -> list[str]:
    """Calls a goal asks for: one single-argument function named like ``is_prime(n)`` and
    values introduced by on/with/for (``check it on 2, 15 and 17``). Empty when ambiguous."""
    functions = {name for name, param in _SIGNATURE.findall(goal) if param}
    if len(functions) != 1:
        return []
    found = _LIST.search(goal)
    if found is None:
        return []
    values = re.findall(_VALUE, found.group(1))
    (name,) = functions
    try:
        return validate([f"{name}({value})" for value in values])
    except InvalidInput:
        return []
