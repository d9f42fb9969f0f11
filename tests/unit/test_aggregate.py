"""Step outputs -> task result, per strategy (no database: plain step records)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from octollm.orchestrator.engine.aggregate import aggregate


@dataclass
class Step:
    step_id: str
    status: str = "succeeded"
    level: int = 0
    position: int = 0
    error: dict[str, Any] | None = None


STEPS = [
    Step("d", level=2, position=3),
    Step("a", level=0, position=0),
    Step("c", status="failed", level=1, position=2, error={"code": "ARM_FAILED"}),
    Step("b", level=1, position=1),
]
OUTPUTS = {"a": {"v": 1}, "b": {"v": 2}, "d": {"v": 4}}


def test_sequential_aggregation_returns_the_last_step_in_topological_order() -> None:
    result = aggregate("sequential", STEPS, OUTPUTS)
    assert result == {"strategy": "sequential", "step_id": "d", "output": {"v": 4}}


def test_accumulative_aggregation_keys_every_output_by_step_id_with_gaps_visible() -> None:
    result = aggregate("accumulative", STEPS, OUTPUTS)
    assert list(result["steps"]) == ["a", "b", "c", "d"]
    assert result["steps"]["c"] == {"_gap": {"status": "failed", "error": {"code": "ARM_FAILED"}}}


def test_hierarchical_aggregation_groups_outputs_by_dag_level() -> None:
    result = aggregate("hierarchical", STEPS, OUTPUTS)
    assert result["levels"] == {
        "level_0": {"a": {"v": 1}},
        "level_1": {
            "b": {"v": 2},
            "c": {"_gap": {"status": "failed", "error": {"code": "ARM_FAILED"}}},
        },
        "level_2": {"d": {"v": 4}},
    }


def test_an_unknown_strategy_falls_back_to_accumulative_and_no_steps_give_no_output() -> None:
    assert aggregate("whatever", STEPS, OUTPUTS)["strategy"] == "accumulative"
    assert aggregate("sequential", [], {}) == {"strategy": "sequential", "output": None}
