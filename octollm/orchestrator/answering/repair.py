"""A repair round: the faulty artefact's step and everything downstream run again.

When the final verdict is invalid, the step that produced the faulty artefact gets the judge's
findings (``target_of``, first match wins):

    the judge checked a coder step's code (``code_source``)      -> that coder step
    a run failed (``execution_failed``)                          -> the coder the failed run
                                                                    depends on, else the last coder
    a search found nothing (``no_sources``) and it was narrower
      than the broadest search (its own query, a relevance floor,
      another method, a small limit)                             -> that retriever step, re-run
                                                                    broadened (``broadened``)
    only empty searches, already as broad as they go             -> nothing (the replan path
                                                                    had its chance)
    prose                                                        -> the integrate step
    no integrate step: the LLM step whose text became the answer -> that step (coder, planner)

That step and its dependants (among the task's
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
#: Arms whose step text can become the answer and that read ``input.repair`` to redo it.
TEXT_ARMS = frozenset({"coder", "planner"})
_TEXT_KEYS = ("answer", "summary", "text", "explanation")
BROAD_LIMIT = 10


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


def target_of(
    rows: Sequence[StepRow],
    verdict: Verdict,
    outputs: Mapping[str, dict[str, Any]] | None = None,
    goal: str | None = None,
) -> str | None:
    """The step to repair, or None when no producer can fix what the verdict found."""
    outputs = outputs or {}
    by_id = {r.step_id: r for r in rows}
    if verdict.only_missing_sources:
        narrow = [r for r in _empty_searches(rows, outputs) if broadened(r.input, goal)]
        return max(narrow, key=_order).step_id if narrow else None
    source = by_id.get(verdict.code_source or "")
    if source is not None and source.arm == "coder":
        return source.step_id
    coders = [r for r in rows if r.arm == "coder" and r.status == StepStatus.SUCCEEDED.value]
    if coders and any(e.get("type") == "execution_failed" for e in verdict.errors):
        upstream = _coders_behind_failed_runs(rows, outputs, {c.step_id for c in coders})
        return max(upstream or coders, key=_order).step_id
    integrators = [r for r in rows if is_integrate(r)]
    if integrators:
        return max(integrators, key=_order).step_id
    writers = [r for r in rows if r.arm in TEXT_ARMS and _wrote_text(outputs.get(r.step_id))]
    return max(writers, key=_order).step_id if writers else None


def _order(row: StepRow) -> tuple[int, int]:
    return (row.level, row.position)


def _wrote_text(out: Mapping[str, Any] | None) -> bool:
    texts = [(out or {}).get(k) for k in _TEXT_KEYS]
    return any(isinstance(t, str) and t.strip() for t in texts)


def _run_failed(row: StepRow, out: Mapping[str, Any] | None) -> bool:
    """An executor step that failed, or whose run exited non-zero, timed out or raised a check."""
    if row.arm != "executor":
        return False
    if row.status == StepStatus.FAILED.value:
        return True
    if not out or "exit_code" not in out:
        return False
    checks = out.get("checks") or []
    return (
        out.get("exit_code") not in (0, None)
        or bool(out.get("timed_out"))
        or any(isinstance(c, dict) and "error" in c for c in checks)
    )


def _coders_behind_failed_runs(
    rows: Sequence[StepRow], outputs: Mapping[str, dict[str, Any]], coders: set[str]
) -> list[StepRow]:
    """The coder steps that the failed runs depend on."""
    by_id = {r.step_id: r for r in rows}
    return [
        by_id[d]
        for row in rows
        if _run_failed(row, outputs.get(row.step_id))
        for d in row.depends_on
        if d in coders
    ]


def _empty_searches(
    rows: Sequence[StepRow], outputs: Mapping[str, dict[str, Any]]
) -> list[StepRow]:
    return [
        r
        for r in rows
        if r.arm == "retriever"
        and r.status == StepStatus.SUCCEEDED.value
        and (r.input or {}).get("op", "search") == "search"
        and not (outputs.get(r.step_id) or {}).get("results")
    ]


def broadened(step_input: Mapping[str, Any], goal: str | None) -> dict[str, Any] | None:
    """The broadest search for ``step_input``'s question, or None when it already was that.

    Broader means: no relevance floor, hybrid (vector + keyword), at least ``BROAD_LIMIT``
    results, and the task's goal as the query when the planner wrote another one. Filters and
    the collection stay: they say *where* to look, which a repair does not second-guess.
    """
    given = dict(step_input)
    wider = {
        **given,
        "method": "hybrid",
        "min_relevance_score": 0.0,
        "limit": max(int(given.get("limit") or 0), BROAD_LIMIT),
    }
    if goal and str(given.get("query") or "").strip() != goal.strip()[:500]:
        wider["query"] = goal.strip()[:500]
    keys = ("method", "min_relevance_score", "limit", "query")
    defaults = {"method": "hybrid", "min_relevance_score": 0.0, "limit": 10}
    if all(wider.get(k) == given.get(k, defaults.get(k)) for k in keys):
        return None
    return wider


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
    goal: str | None = None,
) -> Round | None:
    """The new rows of repair round ``round_no`` (``rows``: the task's current steps)."""
    target_id = target_of(rows, verdict, outputs, goal)
    if target_id is None:
        return None
    by_id = {r.step_id: r for r in rows}
    sub = step_repo.dependants(list(rows), {target_id})
    renamed = {sid: round_id(sid, round_no) for sid in sub}
    now = datetime.now(UTC)
    new_rows: list[dict[str, Any]] = []
    for row in sorted((by_id[s] for s in sub), key=lambda r: (r.level, r.position)):
        step_input = dict(row.input or {})
        if row.step_id == target_id and row.arm == "retriever":
            # The search itself is the repair; the findings ride along as bookkeeping
            # (``_``-keys are the orchestrator's, not the retriever's to validate).
            step_input = broadened(step_input, goal) or step_input
            step_input["_repair"] = feedback(round_no, row, rows, outputs, verdict)
        elif row.step_id == target_id:
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
