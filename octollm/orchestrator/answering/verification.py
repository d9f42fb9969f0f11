"""The task's verdict, read from its final judge step.

The judge step that runs last (deepest level, then plan order) among the task's *current* steps
gives the verdict: ``valid``, ``invalid`` or ``unverified`` with each acceptance criterion
``passed`` / ``failed`` / ``undecided`` and why. A plan without a judge step is ``unverified``;
a judge step that did not succeed makes the verdict ``invalid``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Status = Literal["valid", "invalid", "unverified"]
_STATUSES: tuple[Status, ...] = ("valid", "invalid", "unverified")
JUDGE_ARM = "judge"


class StepLike(Protocol):
    step_id: str
    arm: str
    status: str
    level: int
    position: int
    error: dict[str, Any] | None


@dataclass(frozen=True)
class Verdict:
    status: Status
    step_id: str | None = None
    criteria: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    #: The step whose code the judge checked (a coder step), when it said.
    code_source: str | None = None

    @property
    def failed_criteria(self) -> list[str]:
        return [str(c["criterion"]) for c in self.criteria if c.get("status") == "failed"]

    @property
    def only_missing_sources(self) -> bool:
        """Every error is a search that found nothing (only a broader search can repair that)."""
        return bool(self.errors) and all(e.get("type") == "no_sources" for e in self.errors)

    def view(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "valid": self.status == "valid",
            "judge_step": self.step_id,
            "criteria": self.criteria,
            "failed_criteria": self.failed_criteria,
            "issues": self.errors,
            "reasons": self.reasons,
        }


def final_judge(rows: Sequence[StepLike]) -> StepLike | None:
    judges = [r for r in rows if r.arm == JUDGE_ARM]
    return max(judges, key=lambda r: (r.level, r.position)) if judges else None


def verdict_of(rows: Sequence[StepLike], outputs: Mapping[str, dict[str, Any]]) -> Verdict:
    judge = final_judge(rows)
    if judge is None:
        return Verdict("unverified", reasons=["the plan has no judge step"])
    if judge.status != "succeeded" or judge.step_id not in outputs:
        error = judge.error or {}
        why = f"the judge step {judge.step_id} {judge.status}: {error.get('message', '')}".strip()
        return Verdict("invalid", judge.step_id, reasons=[why.rstrip(":")])
    out = outputs[judge.step_id]
    status = _status(out)
    criteria = _criteria(out)
    errors = [i for i in out.get("issues", []) if isinstance(i, dict) and i["severity"] == "error"]
    reasons = [f"criterion failed: {c['criterion']} ({c['why']})" for c in criteria
               if c["status"] == "failed"]  # fmt: skip
    reasons += [str(e.get("message", "")) for e in errors if e.get("type") != "criteria_not_met"]
    if status == "unverified":
        undecided = [c["criterion"] for c in criteria if c["status"] == "undecided"]
        reasons.append(
            "undecided: " + "; ".join(undecided) if undecided else "nothing could be checked"
        )
    metadata = out.get("metadata")
    source = metadata.get("code_source") if isinstance(metadata, dict) else None
    return Verdict(
        status,
        judge.step_id,
        criteria,
        errors,
        [r[:500] for r in reasons if r][:20],
        source if isinstance(source, str) and source != "input" else None,
    )


def _status(out: Mapping[str, Any]) -> Status:
    given = str(out.get("verdict"))
    for status in _STATUSES:
        if given == status:
            return status
    return "valid" if out.get("valid") else "invalid"


def _criteria(out: Mapping[str, Any]) -> list[dict[str, Any]]:
    listed = out.get("criteria")
    if isinstance(listed, list):
        return [dict(c) for c in listed if isinstance(c, dict) and "criterion" in c]
    evidence = (out.get("metadata") or {}).get("criteria_evidence") or {}
    found = [(c, "passed") for c in out.get("passed_criteria", [])]
    found += [(c, "failed") for c in out.get("failed_criteria", [])]
    found += [(c, "undecided") for c in (out.get("metadata") or {}).get("ambiguous_criteria", [])]
    return [{"criterion": c, "status": s, "why": evidence.get(c, "")} for c, s in found]
