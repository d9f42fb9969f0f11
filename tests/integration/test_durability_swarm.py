"""Swarm steps on real workers: N variants run as a group in the canvas, the aggregator
decides, dependants get the decision; too few valid proposals fail clearly."""

from __future__ import annotations

from typing import Any

from octollm.contracts import TaskContract
from octollm.orchestrator.engine import lifecycle
from tests.support.stack import LiveStack, steps_of, wait_for_task


def _plan(swarm: dict[str, Any], **vote_input: Any) -> dict[str, Any]:
    return {
        "steps": [
            {
                "step_id": "ask",
                "arm": "vote",
                "action": "propose an answer",
                "input": {"swarm": swarm, **vote_input},
            },
            {"step_id": "use", "arm": "echo", "action": "use the decision", "depends_on": ["ask"]},
        ]
    }


def test_a_swarm_step_fans_out_to_variants_and_its_dependants_get_the_vote(
    stack: LiveStack, runtime: Any
) -> None:
    stack.start_fleet(["orchestrator", "echo"])
    stack.start_worker(["vote"], concurrency=3)
    plan = _plan(
        {"size": 3, "strategy": "majority_vote", "key": "answer"},
        answers=["A", "B", "A"],
        confidences=[0.6, 0.99, 0.7],
    )
    task = lifecycle.submit(runtime, TaskContract(goal="ask three variants and vote", plan=plan))
    row = wait_for_task(runtime, task.id)
    assert row.status == "completed", row.error
    decision = row.result["steps"]["ask"]
    assert decision["final_answer"]["answer"] == "A"
    assert decision["winner"] == "ask~2"
    assert decision["aggregation_method"] == "majority_vote"
    assert [p["variant"] for p in decision["all_proposals"]] == ["ask~0", "ask~1", "ask~2"]
    # variants are hidden from the task result
    assert set(row.result["steps"]) == {"ask", "use"}
    assert row.result["steps"]["use"]["received"]["ask"]["winner"] == "ask~2"
    steps = steps_of(runtime, task.id)
    assert {s: r.status for s, r in steps.items()} == dict.fromkeys(
        ["ask~0", "ask~1", "ask~2", "ask", "use"], "succeeded"
    )
    assert steps["ask"].arm == "orchestrator"
    assert len({steps[f"ask~{i}"].input["temperature"] for i in range(3)}) == 3


def test_a_swarm_with_fewer_than_two_valid_proposals_fails_clearly(
    stack: LiveStack, runtime: Any
) -> None:
    stack.start_fleet(["orchestrator", "echo", "vote"])
    plan = _plan({"size": 3, "strategy": "weighted_vote"}, fail_seeds=[0, 2])
    task = lifecycle.submit(runtime, TaskContract(goal="a swarm that mostly fails", plan=plan))
    row = wait_for_task(runtime, task.id)
    assert row.status == "failed"
    assert "step ask: swarm needs at least 2 valid proposals; got 1 of 3" in row.error["message"]
    steps = steps_of(runtime, task.id)
    assert (steps["ask~0"].status, steps["ask~1"].status) == ("failed", "succeeded")
    assert steps["use"].status == "skipped"
