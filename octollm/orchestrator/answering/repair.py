"""A repair round: the faulty artefact's step and everything downstream run again.

When the final verdict is invalid, the step that produced the faulty artefact gets the judge's
findings: the coder step whose code the judge checked (``code_source``), else the integrate
step (prose), else nothing can be repaired. That step and its dependants (among the task's
current steps) are copied as new rows ``<step>.r<round>`` under a new generation, the target's
input carrying ``repair: {round, failed_criteria, issues, executions, previous}``; the copies'
dependencies point at each other, other dependencies stay. The old rows stay (visible in the
step list) and the round's row names them as replaced, so the verdict, the answer and the
aggregate read only the current steps.

    round 1:  code -> run -> verify            (invalid: check is_prime(2) raised)
    round 2:  code.r2 -> run.r2 -> verify.r2   (code.r2's input has the findings)
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from octollm.contracts.status import StepStatus
from octollm.orchestrator.answering.integration import is_integrate
from octollm.orchestrator.answering.verification import Verdict
from octollm.store import steps as step_repo
from octollm.store.models import StepRow

_ROUND_SUFFIX = re.compile(r"\.r\d+$")
STDERR_CHARS = 600


@dataclass(frozen=True)
class Round:
    target: str
    replaced: list[str]
    rows: list[dict[str, Any]]


def base_id(step_id: str) -> str:
    return _ROUND_SUFFIX.sub("", step_id)


def round_id(step_id: str, round_no: int) -> str:
    suffix = f".r{round_no}"
    return base_id(step_id)[: 64 - len(suffix)] + suffix


def target_of(rows: Sequence[StepRow], verdict: Verdict) -> str | None:
    """The step to repair, or None when no producer can fix what the verdict found."""
    if verdict.only_missing_sources:
        return None
    by_id = {r.step_id: r for r in rows}
    source = by_id.get(verdict.code_source or "")
    if source is not None and source.arm == "coder":
        return source.step_id
    coders = [r for r in rows if r.arm == "coder" and r.status == StepStatus.SUCCEEDED.value]
    if coders and any(e.get("type") == "execution_failed" for e in verdict.errors):
        return max(coders, key=lambda r: (r.level, r.position)).step_id
    integrators = [r for r in rows if is_integrate(r)]
    if integrators:
        return max(integrators, key=lambda r: (r.level, r.position)).step_id
    return None


def feedback(
    round_no: int,
    target: StepRow,
    rows: Sequence[StepRow],
    outputs: Mapping[str, dict[str, Any]],
    verdict: Verdict,
) -> dict[str, Any]:
    """What the target's arm is told: the failed criteria, the judge's messages, the runs."""
    executions = []
    for row in rows:
        out = outputs.get(row.step_id) or {}
        if "exit_code" in out:
            checks = [c for c in out.get("checks") or [] if isinstance(c, dict)]
            executions.append(
                {
                    "step_id": row.step_id,
                    "exit_code": out.get("exit_code"),
                    "timed_out": bool(out.get("timed_out")),
                    "stderr": str(out.get("stderr") or "")[-STDERR_CHARS:],
                    "checks": checks[:20],
                }
            )
    previous = outputs.get(target.step_id) or {}
    return {
        "round": round_no,
        "failed_criteria": verdict.failed_criteria,
        "issues": [str(e.get("message", ""))[:500] for e in verdict.errors][:20],
        "reasons": verdict.reasons,
        "executions": executions,
        "previous": {k: previous[k] for k in ("code", "answer") if k in previous},
    }


def plan_round(
    round_no: int,
    generation: int,
    rows: Sequence[StepRow],
    outputs: Mapping[str, dict[str, Any]],
    verdict: Verdict,
) -> Round | None:
    """The new rows of repair round ``round_no`` (``rows``: the task's current steps)."""
    target_id = target_of(rows, verdict)
    if target_id is None:
        return None
    by_id = {r.step_id: r for r in rows}
    sub = step_repo.dependants(list(rows), {target_id})
    renamed = {sid: round_id(sid, round_no) for sid in sub}
    now = datetime.now(UTC)
    new_rows: list[dict[str, Any]] = []
    for row in sorted((by_id[s] for s in sub), key=lambda r: (r.level, r.position)):
        step_input = dict(row.input or {})
        if row.step_id == target_id:
            step_input["repair"] = feedback(round_no, row, rows, outputs, verdict)
        new_rows.append(
            {
                "task_id": row.task_id,
                "step_id": renamed[row.step_id],
                "arm": row.arm,
                "action": row.action,
                "input": step_input,
                "depends_on": [renamed.get(d, d) for d in row.depends_on],
                "critical": row.critical,
                "position": row.position,
                "level": row.level,
                "status": StepStatus.QUEUED.value,
                "generation": generation,
                "attempts": 0,
                "max_attempts": row.max_attempts,
                "queued_at": now,
            }
        )
    return Round(target_id, sorted(sub), new_rows)
