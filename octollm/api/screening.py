"""Input screening at the reflex edge, with the guardian's detectors (``octollm.arms.safety``).

Every string a task would hand to an arm is screened: the goal, constraints, acceptance
criteria, context values and an explicit plan's actions and inputs. The tenant's policy
(``octollm.arms.safety.policy``) decides per category and severity:

* ``block`` - the request is refused (422 ``CONTENT_BLOCKED``), naming each blocking
  finding's field, rule, span and score;
* ``flag``  - the request is accepted and the flag travels with the task: it is stored in
  the contract (``metadata.screening``), shown in the task's status, sent in the
  ``task.queued`` event and handed to every arm (``ArmContext.screening``), so the guardian
  and the judge know what the edge saw; with ``redact`` on, flagged PII and secrets are
  replaced before the task is stored;
* ``off``   - the finding is ignored.

The default policy refuses only high-confidence critical findings and flags the rest.
Reports carry the field, kind, subtype, risk, rule, span and score of each finding, never
the matched text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from octollm.api.config import Screening
from octollm.api.schemas import Finding, ScreeningReport
from octollm.arms.safety import find, redact
from octollm.arms.safety.policy import Decision, ScreeningPolicy, decide, resolve
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


#: At most this many findings travel in the task's flag (the report lists them all).
FLAG_FINDINGS = 20


def _finding(path: str, d: Decision) -> Finding:
    f = d.finding
    return Finding(
        field=path,
        kind=f.kind,
        subtype=f.subtype,
        risk=f.risk.label,
        action=d.action,
        rule=f.rule or f.subtype,
        start=f.start,
        end=f.end,
        score=round(f.confidence, 3),
    )


def screen(contract: TaskContract, policy: Screening | str) -> tuple[TaskContract, ScreeningReport]:
    """Apply ``policy``; returns the (possibly redacted, possibly flagged) contract and what
    was found. Raises ``ContentBlocked`` when a decision blocks."""
    chosen: ScreeningPolicy = resolve(policy)
    data = contract.model_dump(mode="json")
    if "screening" in data["metadata"]:
        # the flag is the edge's to set: a caller cannot pre-clear or forge it
        data["metadata"] = {k: v for k, v in data["metadata"].items() if k != "screening"}
        contract = TaskContract.model_validate(data)
    findings: list[Finding] = []
    blocking: list[Finding] = []
    redactable: set[str] = set()
    for path, text in texts(data):
        for d in decide(find(text, ("pii", "secrets", "injection")), chosen):
            finding = _finding(path, d)
            findings.append(finding)
            if d.action == "block":
                blocking.append(finding)
            elif d.finding.kind != "injection":
                redactable.add(path)
    if blocking:
        raise ContentBlocked(
            f"the request was refused by input screening ({len(blocking)} finding(s) "
            f"in {', '.join(sorted({b.field for b in blocking}))})",
            details={"findings": [b.model_dump() for b in blocking], "policy": chosen.name},
        )
    if not findings:
        return contract, ScreeningReport(action="passed", policy=chosen.name)
    if chosen.redact and redactable:
        data = _redact(data, redactable)
        action = "redacted"
    else:
        action = "warned" if chosen.name == "warn" else "flagged"
    report = ScreeningReport(action=action, policy=chosen.name, findings=findings)
    metadata = dict(data.get("metadata") or {})
    metadata["screening"] = flag(report)
    data["metadata"] = metadata
    return TaskContract.model_validate(data), report


def flag(report: ScreeningReport) -> dict[str, Any]:
    """What travels with a flagged task: the policy, the kinds found and the first findings."""
    return {
        "flagged": True,
        "action": report.action,
        "policy": report.policy,
        "kinds": sorted({f"{f.kind}:{f.subtype}" for f in report.findings}),
        "findings": [f.model_dump(exclude_none=True) for f in report.findings[:FLAG_FINDINGS]],
    }


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
