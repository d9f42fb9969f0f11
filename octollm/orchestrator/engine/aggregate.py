"""Step outputs -> the task's result, by the task's aggregation strategy.

* sequential: the output of the last step (in plan order among the deepest level);
* accumulative: every step's output keyed by step id;
* hierarchical: outputs grouped by DAG level (``level_0``, ``level_1``, ...).

Failed optional steps appear as gaps (``{"_gap": {...}}``) so readers see what is missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class StepLike(Protocol):
    step_id: str
    status: str
    level: int
    position: int
    error: dict[str, Any] | None


def _entry(step: StepLike, outputs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    if step.step_id in outputs:
        return outputs[step.step_id]
    return {"_gap": {"status": step.status, "error": step.error}}


def aggregate(
    strategy: str, steps: Sequence[StepLike], outputs: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    ordered = sorted(steps, key=lambda s: (s.level, s.position))
    if not ordered:
        return {"strategy": strategy, "output": None}
    if strategy == "sequential":
        last = ordered[-1]
        return {"strategy": strategy, "step_id": last.step_id, "output": _entry(last, outputs)}
    if strategy == "hierarchical":
        levels: dict[str, dict[str, Any]] = {}
        for s in ordered:
            levels.setdefault(f"level_{s.level}", {})[s.step_id] = _entry(s, outputs)
        return {"strategy": strategy, "levels": levels}
    return {"strategy": "accumulative", "steps": {s.step_id: _entry(s, outputs) for s in ordered}}
