"""The thin end-to-end path on real workers, Redis and Postgres."""

from __future__ import annotations

from typing import Any

from octollm.contracts import TaskContract
from octollm.orchestrator.engine import lifecycle
from octollm.store import steps as step_repo
from tests.support.stack import LiveStack, wait_for_task


def _diamond(sleep: float = 0.5) -> dict[str, Any]:
    return {
        "steps": [
            {"step_id": "a", "arm": "echo", "action": "A"},
            {
                "step_id": "b",
                "arm": "echo",
                "action": "B",
                "depends_on": ["a"],
                "input": {"sleep": sleep},
            },
            {
                "step_id": "c",
                "arm": "echo",
                "action": "C",
                "depends_on": ["a"],
                "input": {"sleep": sleep},
            },
            {"step_id": "d", "arm": "echo", "action": "D", "depends_on": ["b", "c"]},
        ]
    }


def test_a_diamond_runs_b_and_c_at_the_same_time_and_d_receives_both(
    stack: LiveStack, runtime: Any
) -> None:
    stack.start_worker(["orchestrator"])
    stack.start_worker(["echo"], concurrency=1, name="echo-1")
    stack.start_worker(["echo"], concurrency=1, name="echo-2")
    task = lifecycle.submit(runtime, TaskContract(goal="a diamond of four steps", plan=_diamond()))
    row = wait_for_task(runtime, task.id)
    assert row.status == "completed", row.error
    steps = row.result["steps"]
    b, c = steps["b"], steps["c"]
    assert b["start"] < c["end"], "B and C did not overlap"
    assert c["start"] < b["end"], "B and C did not overlap"
    assert sorted(steps["d"]["received"]) == ["b", "c"]
    with runtime.db.session() as session:
        assert {s.status for s in step_repo.for_task(session, task.id)} == {"succeeded"}


def test_a_failed_critical_step_fails_the_task_and_skips_its_dependants(
    stack: LiveStack, runtime: Any
) -> None:
    stack.start_fleet(["orchestrator", "echo", "fail"])
    plan = {
        "steps": [
            {"step_id": "a", "arm": "echo", "action": "A"},
            {"step_id": "boom", "arm": "fail", "action": "fails", "depends_on": ["a"]},
            {"step_id": "after", "arm": "echo", "action": "never", "depends_on": ["boom"]},
        ]
    }
    task = lifecycle.submit(runtime, TaskContract(goal="a plan whose middle step fails", plan=plan))
    row = wait_for_task(runtime, task.id)
    assert row.status == "failed"
    assert "boom" in row.error["message"]
    with runtime.db.session() as session:
        states = {s.step_id: s.status for s in step_repo.for_task(session, task.id)}
    assert states == {"a": "succeeded", "boom": "failed", "after": "skipped"}


def test_a_failed_optional_step_leaves_a_visible_gap_for_its_dependants(
    stack: LiveStack, runtime: Any
) -> None:
    stack.start_fleet(["orchestrator", "echo", "fail"])
    plan = {
        "steps": [
            {"step_id": "maybe", "arm": "fail", "action": "optional", "critical": False},
            {"step_id": "next", "arm": "echo", "action": "uses it", "depends_on": ["maybe"]},
        ]
    }
    task = lifecycle.submit(runtime, TaskContract(goal="an optional step that fails", plan=plan))
    row = wait_for_task(runtime, task.id)
    # The dependant still ran, with the gap marked; but nothing verified the result and a step
    # failed, so the task tells the truth: failed, with that step's code (issue 12).
    assert row.status == "failed"
    assert row.error["code"] == "ARM_FAILED"
    assert row.result["verdict"]["status"] == "unverified"
    gap = row.result["steps"]["next"]["received"]["maybe"]["_gap"]
    assert gap["status"] == "failed"
    assert gap["error"]["code"] == "ARM_FAILED"
