"""Input screening at the reflex edge, with the guardian's detectors (``octollm.arms.safety``).

Every string a task would hand to an arm is screened: the goal, constraints, acceptance
criteria, context values and an explicit plan's actions and inputs. The tenant's policy says
what happens to risky input:

* ``block``  - high or critical risk refuses the request (422 ``CONTENT_BLOCKED``); lesser
  findings are accepted and reported;
* ``redact`` - PII and secrets are replaced before the task is stored; a high-risk prompt
  injection is still refused, because no redaction makes it safe;
* ``warn``   - everything is accepted; findings are reported.

Reports carry the field, kind, subtype and risk of each finding, never the matched text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from octollm.api.config import Screening
from octollm.api.schemas import Finding, ScreeningReport
from octollm.arms.safety import Risk, redact, scan
from octollm.contracts.task import TaskContract
from octollm.errors import InvalidInput

SCREENED_FIELDS = ("goal", "constraints", "acceptance_criteria", "context", "plan")
_PLAN_TEXT = {"action", "input"}


class ContentBlocked(InvalidInput):
    code = "CONTENT_BLOCKED"


def _walk(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, f"{path}[{index}]")


def _map(value: Any, path: str, fn: Callable[[str, str], str]) -> Any:
    if isinstance(value, str):
        return fn(path, value)
    if isinstance(value, dict):
        return {k: _map(v, f"{path}.{k}", fn) for k, v in value.items()}
    if isinstance(value, list):
        return [_map(v, f"{path}[{i}]", fn) for i, v in enumerate(value)]
    return value


def _plan_texts(plan: dict[str, Any] | None) -> dict[str, Any]:
    if not plan:
        return {}
    return {
        f"steps[{i}]": {k: v for k, v in step.items() if k in _PLAN_TEXT}
        for i, step in enumerate(plan.get("steps", []))
    }


def texts(data: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """``(field path, text)`` of every screened string in a dumped contract."""
    for name in SCREENED_FIELDS:
        value = _plan_texts(data.get("plan")) if name == "plan" else data.get(name)
        yield from _walk(value, name)


def screen(contract: TaskContract, policy: Screening) -> tuple[TaskContract, ScreeningReport]:
    """Apply ``policy``; returns the (possibly redacted) contract and what was found."""
    data = contract.model_dump(mode="json")
    findings: list[Finding] = []
    blocking: list[Finding] = []
    redactable: set[str] = set()
    for path, text in texts(data):
        result = scan(text, ("pii", "secrets", "injection"), redact_style=None)
        for f in result.findings:
            finding = Finding(field=path, kind=f.kind, subtype=f.subtype, risk=f.risk.label)
            findings.append(finding)
            injection = f.kind == "injection"
            refuses = policy != "warn" if injection else policy == "block"
            if f.risk >= Risk.HIGH and refuses:
                blocking.append(finding)
            if f.kind != "injection":
                redactable.add(path)
    if blocking:
        raise ContentBlocked(
            f"the request was refused by input screening ({len(blocking)} high-risk finding(s) "
            f"in {', '.join(sorted({b.field for b in blocking}))})",
            details={"findings": [b.model_dump() for b in blocking], "policy": policy},
        )
    if not findings:
        return contract, ScreeningReport(action="passed")
    if policy == "redact" and redactable:
        redacted = _redact(data, redactable)
        return TaskContract.model_validate(redacted), ScreeningReport(
            action="redacted", findings=findings
        )
    return contract, ScreeningReport(action="warned", findings=findings)


def _redact(data: dict[str, Any], paths: set[str]) -> dict[str, Any]:
    def fn(path: str, text: str) -> str:
        return redact(text) if path in paths else text

    out = dict(data)
    for name in ("goal", "constraints", "acceptance_criteria", "context"):
        out[name] = _map(data.get(name), name, fn)
    plan = data.get("plan")
    if plan:
        steps = []
        for i, step in enumerate(plan.get("steps", [])):
            base = f"plan.steps[{i}]"
            steps.append(
                {k: (_map(v, f"{base}.{k}", fn) if k in _PLAN_TEXT else v) for k, v in step.items()}
            )
        out["plan"] = {**plan, "steps": steps}
    return out
