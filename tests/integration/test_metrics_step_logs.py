"""The logs of real workers, captured as JSON events: one canonical line per finished step with
its context bound, the API's trace id carried through every step, and no prompts, outputs or
secrets at info."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from octollm.contracts import TaskContract
from octollm.observability import tracing
from octollm.orchestrator.engine import lifecycle
from tests.support.stack import Worker, live_stack, make_runtime, wait_for_task

MARKER = "PROMPT-MARKER-4f1d"
SECRET = "sk-live-SECRETVALUE-9c2e"


def events(workers: list[Worker]) -> list[dict[str, Any]]:
    found = []
    for worker in workers:
        for line in worker.log().splitlines():
            if line.startswith("{"):
                found.append({**json.loads(line), "_worker": worker.name})
    return found


@pytest.fixture
def finished(tmp_path: Path) -> Any:
    tracing.install()
    with live_stack(
        tmp_path, redis_db=int(os.environ.get("TEST_REDIS_DB") or 13), OCTOLLM_LLM__API_KEY=SECRET
    ) as stack:
        rt = make_runtime(stack)
        stack.start_fleet(["orchestrator", "echo", "fail"])
        plan = {
            "steps": [
                {
                    "step_id": "talk",
                    "arm": "echo",
                    "action": f"say {MARKER}",
                    "input": {"prompt": MARKER},
                },
                {
                    "step_id": "oops",
                    "arm": "fail",
                    "action": "fails",
                    "critical": False,
                    "input": {"message": f"failure about {MARKER}"},
                },
            ]
        }
        token = tracing.continue_trace(None)
        try:
            task = lifecycle.submit(rt, TaskContract(goal=f"goal with {MARKER}", plan=plan))
            trace_id = tracing.parse(tracing.current())[0]  # type: ignore[index]
        finally:
            tracing.reset(token)
        # An optional step failed and nothing verified the rest: the task ends failed (issue 12).
        assert wait_for_task(rt, task.id).status == "failed"
        workers = list(stack.workers)
        stack.stop()  # flush and close the logs
        yield task.id, trace_id, events(workers)
        rt.db.dispose()


def test_a_finished_step_logs_one_canonical_line_with_its_context_bound(finished: Any) -> None:
    task_id, trace_id, logged = finished
    [ok] = [e for e in logged if e["event"] == "step_succeeded" and e.get("task_id") == task_id]
    assert (ok["step_id"], ok["arm"]) == ("talk", "echo")
    assert ok["attempt"] == 1
    assert isinstance(ok["duration_ms"], float)
    assert ok["tokens"] == 0
    assert ok["level"] == "info"
    assert "output_sha256" in ok
    assert "output" not in ok
    assert ok["trace_id"] == trace_id, "the submitter's trace reaches the step"
    [failed] = [e for e in logged if e["event"] == "step_failed" and e.get("task_id") == task_id]
    assert (failed["step_id"], failed["arm"], failed["attempt"]) == ("oops", "fail", 1)
    assert failed["trace_id"] == trace_id


def test_a_failed_step_line_also_carries_duration_and_tokens(finished: Any) -> None:
    task_id, _, logged = finished
    [failed] = [e for e in logged if e["event"] == "step_failed" and e.get("task_id") == task_id]
    assert "duration_ms" in failed
    assert "tokens" in failed


def test_prompts_outputs_and_secrets_are_not_logged_at_info(finished: Any) -> None:
    _, _, logged = finished
    info = [e for e in logged if e.get("level") in ("info", "debug")]
    assert info, "no info lines captured"
    leaks = [e for e in info if MARKER in json.dumps(e) or SECRET in json.dumps(e)]
    assert not leaks, leaks[:3]
