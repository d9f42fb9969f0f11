"""Event-driven arms on real workers: ``code.generated`` -> judge -> ``validation.complete``.

The webhooks pool's dispatcher reads the durable stream and enqueues the reaction on the judge's
queue; the judge pool runs the real Judge arm and publishes its verdict as an event.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from octollm.contracts import TaskContract
from octollm.contracts.event import Event
from octollm.orchestrator.engine import lifecycle
from octollm.store import security_events
from tests.support.fake_llm import FakeLLM
from tests.support.stack import live_stack, make_runtime, wait_for_task, wait_until
from tests.support.streams import stream_entries


def events_of(client: redis.Redis, task_id: str, event_type: str) -> list[Event]:
    rows = stream_entries(client, task_id)
    found = [Event.model_validate_json(fields[b"event"]) for _, fields in rows]
    return [e for e in found if e.event_type == event_type]


def wait_for_events(
    client: redis.Redis, task_id: str, event_type: str, count: int = 1, timeout: float = 40.0
) -> list[Event]:
    deadline = time.monotonic() + timeout
    while True:
        found = events_of(client, task_id, event_type)
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"{event_type} x{count} not seen for {task_id}; saw {len(found)}")
        time.sleep(0.1)


@pytest.fixture
def env() -> dict[str, str]:
    return {"OCTOLLM_EVENTS__RECLAIM_IDLE_SECONDS": "3"}


def parked_task(rt: Any, goal: str) -> str:
    """A task row to hang events on (no worker runs it): reactions act only for a task."""
    plan = {"steps": [{"step_id": "code", "arm": "echo", "action": "park", "input": {}}]}
    return lifecycle.submit(rt, TaskContract(goal=goal, plan=plan)).id


def test_generated_code_is_validated_by_the_judge_and_the_verdict_is_published(
    tmp_path: Path, env: dict[str, str]
) -> None:
    with live_stack(tmp_path, **env) as stack:
        rt = make_runtime(stack)
        stack.start_worker(["webhooks"], concurrency=2)
        judge = stack.start_worker(["judge"], concurrency=2)
        client = stack.redis()
        t_good, t_bad = (
            parked_task(rt, "judge the good code"),
            parked_task(rt, "judge the bad code"),
        )
        good = Event(
            event_type="code.generated",
            source="coder",
            task_id=t_good,
            data={
                "step_id": "code",
                "language": "python",
                "code": "def add(a, b):\n    return a + b\n",
            },
        )
        bad = Event(
            event_type="code.generated",
            source="coder",
            task_id=t_bad,
            data={"step_id": "code", "language": "python", "code": "def broken(:\n"},
        )
        rt.events.publish(good)
        rt.events.publish(bad)

        [ok] = wait_for_events(client, t_good, "validation.complete")
        [ko] = wait_for_events(client, t_bad, "validation.complete")
        assert ok.source == "judge"
        assert ok.data["source_event_id"] == good.event_id
        assert ok.data["result"]["valid"] is True
        assert ko.data["result"]["valid"] is False
        assert any(i["type"] == "syntax_error" for i in ko.data["result"]["issues"])
        assert "def broken" not in "".join(
            line for line in judge.log().splitlines() if '"level": "info"' in line
        ), "code under judgement must not be logged at info"

        # The same event delivered again (a reclaimed stream entry) does not run the judge twice.
        rt.events.publish(good)
        time.sleep(3)
        assert len(events_of(client, t_good, "validation.complete")) == 1
        client.close()
        rt.db.dispose()


def test_a_coder_step_output_referenced_by_id_is_loaded_from_postgres_for_the_judge(
    tmp_path: Path, env: dict[str, str]
) -> None:
    with live_stack(tmp_path, **env) as stack:
        rt = make_runtime(stack)
        stack.start_worker(["webhooks"], concurrency=2)
        stack.start_worker(["judge"], concurrency=2)
        stack.start_fleet(["orchestrator", "echo"])
        plan = {
            "steps": [
                {
                    "step_id": "gen",
                    "arm": "echo",
                    "action": "stand-in for the coder",
                    "input": {"code": "x = 1\n"},
                }
            ]
        }
        task = lifecycle.submit(rt, TaskContract(goal="produce code to judge", plan=plan))
        assert wait_for_task(rt, task.id).status == "completed"
        # Only ids travel: the judge loads step "gen"'s stored output as its dependency.
        rt.events.publish(
            Event(
                event_type="code.generated",
                source="coder",
                task_id=task.id,
                data={"step_id": "gen"},
            )
        )
        [verdict] = wait_for_events(stack.redis(), task.id, "validation.complete")
        result: dict[str, Any] = verdict.data["result"]
        assert verdict.data["step_id"] == "gen"
        assert "valid" in result
        assert json.dumps(result)
        rt.db.dispose()


def test_an_event_claiming_another_tenant_for_a_task_is_neither_delivered_nor_reacted_to(
    tmp_path: Path, env: dict[str, str]
) -> None:
    with live_stack(tmp_path, **env) as stack:
        rt = make_runtime(stack)
        stack.start_worker(["webhooks"], concurrency=2)
        stack.start_worker(["judge"], concurrency=2)
        task_id = parked_task(rt, "tenant default's task")
        forged = Event(
            event_type="code.generated",
            source="coder",
            task_id=task_id,
            tenant="tenant-b",  # not the task row's tenant
            data={"step_id": "code", "language": "python", "code": "x = 1\n"},
        )
        rt.events.publish(forged)

        def recorded() -> Any:
            with rt.db.session() as session:
                rows = security_events.for_task(session, task_id)
            return next((r for r in rows if r.kind == "tenant_mismatch"), None)

        row = wait_until(recorded, 30, "a tenant_mismatch security event")
        assert row.details["claimed_tenant"] == "tenant-b"
        time.sleep(2)
        assert events_of(stack.redis(), task_id, "validation.complete") == []
        rt.db.dispose()


CODE_REPLY = """```python
def double(n):
    return 2 * n

if __name__ == "__main__":
    print(double(21))
```
Doubles a number."""


def test_a_coder_step_announces_its_code_and_the_judge_subscription_validates_it(
    tmp_path: Path, env: dict[str, str]
) -> None:
    with FakeLLM(lambda request: CODE_REPLY) as llm:
        env = {**env, "OCTOLLM_LLM__BASE_URL": llm.base_url, "OCTOLLM_LLM__MODEL": "fake-model"}
        with live_stack(tmp_path, **env) as stack:
            rt = make_runtime(stack)
            stack.start_worker(["webhooks"], concurrency=2)
            stack.start_fleet(["orchestrator", "coder", "judge"])
            plan = {
                "steps": [
                    {
                        "step_id": "write",
                        "arm": "coder",
                        "action": "Write double(n)",
                        "input": {"instruction": "Write a Python function double(n)"},
                    }
                ]
            }
            task = lifecycle.submit(rt, TaskContract(goal="write code to be judged", plan=plan))
            assert wait_for_task(rt, task.id).status == "completed"
            client = stack.redis()
            [announced] = wait_for_events(client, task.id, "code.generated")
            assert announced.source == "coder"
            assert announced.data == {"step_id": "write", "language": "python"}, "ids only"
            [succeeded] = events_of(client, task.id, "step.succeeded")
            assert succeeded.data["model"] == "fake-model"
            [verdict] = wait_for_events(client, task.id, "validation.complete")
            assert verdict.data["source_event_id"] == announced.event_id
            assert verdict.data["step_id"] == "write"
            assert verdict.data["result"]["valid"] is True, verdict.data["result"]
            client.close()
            rt.db.dispose()
