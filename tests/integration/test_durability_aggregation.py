"""The aggregation strategy is chosen per task and applied by the final callback."""

from __future__ import annotations

from typing import Any

from octollm.contracts import TaskContract
from octollm.contracts.status import Aggregation
from octollm.orchestrator.engine import lifecycle
from tests.support.stack import LiveStack, wait_for_task

DIAMOND = {
    "steps": [
        {"step_id": "a", "arm": "echo", "action": "A"},
        {"step_id": "b", "arm": "echo", "action": "B", "depends_on": ["a"]},
        {"step_id": "c", "arm": "echo", "action": "C", "depends_on": ["a"]},
        {"step_id": "d", "arm": "echo", "action": "D", "depends_on": ["b", "c"]},
    ]
}


def test_each_task_is_aggregated_by_its_own_strategy(stack: LiveStack, runtime: Any) -> None:
    stack.start_fleet(["orchestrator", "echo"])
    ids = {
        strategy: lifecycle.submit(
            runtime,
            TaskContract(goal=f"aggregate {strategy.value}", plan=DIAMOND, aggregation=strategy),
        ).id
        for strategy in Aggregation
    }
    results = {s: wait_for_task(runtime, task_id) for s, task_id in ids.items()}
    assert all(r.status == "completed" for r in results.values())
    sequential = results[Aggregation.SEQUENTIAL].result
    assert sequential["step_id"] == "d"
    assert sequential["output"]["step"] == "d"
    assert list(results[Aggregation.ACCUMULATIVE].result["steps"]) == ["a", "b", "c", "d"]
    levels = results[Aggregation.HIERARCHICAL].result["levels"]
    assert {k: sorted(v) for k, v in levels.items()} == {
        "level_0": ["a"],
        "level_1": ["b", "c"],
        "level_2": ["d"],
    }
