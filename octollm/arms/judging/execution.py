"""Layer 5: execution evidence. An executor dependency that exited non-zero or timed out is
an ``execution_failed`` error carrying the tail of its stderr (with PII and secrets redacted);
a failed dependency (``_gap``) is a ``dependency_failed`` error (the Judge was asked to check
what it produced, and it produced nothing); a retrieval that found nothing is ``no_sources``."""

from __future__ import annotations

from octollm.arms.judging.artefact import Execution, Gap, Retrieval, returned_none
from octollm.arms.judging.issues import Issue
from octollm.arms.safety.screening import redact

STDERR_TAIL_CHARS = 600


def stderr_tail(stderr: str, limit: int = STDERR_TAIL_CHARS) -> str:
    tail = stderr.strip()[-limit:]
    return redact(tail)


def execution_issues(executions: list[Execution]) -> list[Issue]:
    issues: list[Issue] = []
    for run in executions:
        for check in run.checks:
            if returned_none(check):
                issues.append(
                    Issue(
                        "error",
                        "execution_failed",
                        f"check {check.get('call')} in step {run.step_id} returned None",
                        location={"step_id": run.step_id, "call": check.get("call")},
                        suggestion="return the result instead of printing it",
                    )
                )
            if "error" in check:
                issues.append(
                    Issue(
                        "error",
                        "execution_failed",
                        f"check {check.get('call')} in step {run.step_id} raised "
                        f"{redact(str(check['error']))[:300]}",
                        location={"step_id": run.step_id, "call": check.get("call")},
                        suggestion="make the function handle this input",
                    )
                )
        if run.ok:
            continue
        if run.timed_out:
            what = f"step {run.step_id} timed out"
        elif run.exit_code is None:
            what = f"step {run.step_id} reported no exit code"
        else:
            what = f"step {run.step_id} exited with code {run.exit_code}"
        tail = stderr_tail(run.stderr)
        issues.append(
            Issue(
                "error",
                "execution_failed",
                what + (f"; stderr ends with:\n{tail}" if tail else ""),
                location={"step_id": run.step_id},
                suggestion="fix the error shown in stderr and run again",
            )
        )
    return issues


def gap_issues(gaps: list[Gap]) -> list[Issue]:
    issues = []
    for gap in gaps:
        error = gap.error.get("error") if isinstance(gap.error.get("error"), dict) else gap.error
        code = error.get("code", "UNKNOWN") if isinstance(error, dict) else "UNKNOWN"
        message = error.get("message", "") if isinstance(error, dict) else ""
        status = gap.error.get("status", "failed")
        detail = f": {str(message)[:300]}" if message else ""
        issues.append(
            Issue(
                "error",
                "dependency_failed",
                f"dependency {gap.step_id} {status} ({code}){detail}; "
                "its output was needed and is missing",
                location={"step_id": gap.step_id},
            )
        )
    return issues


def retrieval_issues(retrievals: list[Retrieval]) -> list[Issue]:
    """A search that found nothing: the question has no sources to answer from."""
    return [
        Issue(
            "error",
            "no_sources",
            f"no sources found: step {r.step_id} searched for {r.query[:200]!r} and found nothing",
            location={"step_id": r.step_id},
            suggestion="ingest documents that answer the question (octollm ingest PATH)",
        )
        for r in retrievals
        if r.found == 0
    ]
