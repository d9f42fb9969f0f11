"""The typed arm boundary on real workers: the runner validates a step's input before the arm
runs and its output before storing it; either failing fails the step once, with details."""

from __future__ import annotations

from typing import Any

from octollm.contracts import TaskContract
from octollm.orchestrator.engine import lifecycle
from octollm.store import steps as step_repo
from tests.support.stack import LiveStack, wait_for_task

PLAN = {
    "steps": [
        {"step_id": "ok", "arm": "echo", "action": "echo", "input": {"note": "kept"}},
        {
            "step_id": "bad_in",
            "arm": "sleep",
            "action": "sleep a while",
            "input": {"seconds": "soon"},
            "critical": False,
        },
        {"step_id": "bad_out", "arm": "miscount", "action": "miscount", "critical": False},
    ]
}


def test_invalid_step_input_and_output_fail_their_steps_once_with_the_errors(
    stack: LiveStack, runtime: Any
) -> None:
    stack.start_fleet(["orchestrator", "echo", "sleep", "miscount"])
    contract = TaskContract(goal="steps with a bad input and a bad output", plan=PLAN)
    task = lifecycle.submit(runtime, contract)
    row = wait_for_task(runtime, task.id, timeout=120)
    assert row.status in {"completed", "failed"}, row.status
    with runtime.db.session() as session:
        steps = {s.step_id: s for s in step_repo.for_task(session, task.id)}
        outputs = step_repo.outputs(session, task.id, ["ok"])

    bad_in = steps["bad_in"]
    assert (bad_in.status, bad_in.attempts) == ("failed", 1)  # never retried
    assert bad_in.error["code"] == "INVALID_INPUT"
    assert bad_in.error["details"]["model"] == "SleepInput"
    assert [e["loc"] for e in bad_in.error["details"]["errors"]] == ["seconds"]

    bad_out = steps["bad_out"]
    assert (bad_out.status, bad_out.attempts) == ("failed", 1)
    assert bad_out.error["code"] == "INVALID_OUTPUT"
    assert bad_out.error["details"]["model"] == "CallsOutput"
    assert sorted(e["loc"] for e in bad_out.error["details"]["errors"]) == ["calls", "extra"]

    # A valid output is stored as the arm built it: the same keys, the step's input as given.
    assert steps["ok"].status == "succeeded"
    echoed = outputs["ok"]
    assert set(echoed) == {"step", "input", "received", "start", "end", "pid"}
    assert echoed["input"]["note"] == "kept"
    assert echoed["input"]["action"] == "echo"
