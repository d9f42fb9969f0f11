"""The judge's findings, as a repair round hands them to the arm that made the faulty artefact.

A step re-run by a repair round has ``input.repair``: ``{round, failed_criteria, issues,
reasons, executions: [{step_id, exit_code, timed_out, stderr, checks}], previous: {code?,
answer?}}``. ``note()`` renders it as prompt text (bounded) for the coder or the integrator.
"""

from __future__ import annotations

from typing import Any

MAX_CHARS = 4000


def note(repair: dict[str, Any]) -> str:
    lines = [
        f"Repair round {repair.get('round', '?')}: the previous attempt was judged invalid. "
        "Fix every problem below; keep what already worked."
    ]
    for criterion in repair.get("failed_criteria") or []:
        lines.append(f"- failed criterion: {criterion}")
    for issue in repair.get("issues") or []:
        lines.append(f"- judge: {issue}")
    for run in repair.get("executions") or []:
        if not isinstance(run, dict):
            continue
        for check in run.get("checks") or []:
            if isinstance(check, dict) and "error" in check:
                lines.append(f"- check {check.get('call')} raised {check.get('error')}")
            elif isinstance(check, dict):
                lines.append(f"- check {check.get('call')} returned {check.get('result')}")
        if run.get("exit_code") not in (0, None) or run.get("timed_out"):
            lines.append(f"- the run exited with {run.get('exit_code')}: {run.get('stderr', '')}")
    return "\n".join(lines)[:MAX_CHARS]


def previous(repair: Any, key: str) -> str:
    """The previous attempt's ``code`` or ``answer`` ('' when there is none)."""
    if not isinstance(repair, dict) or not isinstance(repair.get("previous"), dict):
        return ""
    value = repair["previous"].get(key)
    return value if isinstance(value, str) else ""
