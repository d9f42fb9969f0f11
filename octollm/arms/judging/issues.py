"""The Judge's vocabulary: an ``Issue`` with a severity, a type from OctoLLM's taxonomy, a
message and an optional location and suggestion; and the score derived from a list of them.

Issue types used: ``syntax_error``, ``missing_name``, ``style_issue``, ``security_issue``,
``execution_failed``, ``dependency_failed``, ``schema_violation``, ``missing_field``,
``invalid_type``, ``constraint_violation``, ``criteria_not_met``, ``criteria_ambiguous``,
``validation_skipped``, ``nothing_to_validate``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")

#: What one issue of each severity costs the quality score.
_PENALTY: dict[str, float] = {"error": 0.25, "warning": 0.05, "info": 0.0}


@dataclass(frozen=True)
class Issue:
    severity: Severity
    type: str
    message: str
    location: dict[str, Any] | None = None
    suggestion: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "severity": self.severity,
            "type": self.type,
            "message": self.message,
        }
        if self.location is not None:
            out["location"] = self.location
        if self.suggestion is not None:
            out["suggestion"] = self.suggestion
        return out


def at(line: int | None, column: int | None = None) -> dict[str, Any] | None:
    """A code location (1-based line and column), or None when unknown."""
    if line is None:
        return None
    return {"line": line} if column is None else {"line": line, "column": column}


def counts(issues: Iterable[Issue]) -> dict[str, int]:
    out: dict[str, int] = dict.fromkeys(SEVERITIES, 0)
    for issue in issues:
        out[issue.severity] += 1
    return out


def quality_score(issues: Iterable[Issue]) -> float:
    """1.0 for a clean artefact; each error costs 0.25 and each warning 0.05, floor 0."""
    penalty = sum(_PENALTY[i.severity] for i in issues)
    return round(max(0.0, 1.0 - penalty), 3)
