"""Correlation from the web request to the fleet: the ``X-Request-ID`` of the submitting request
is on every event of the task's Redis Stream, and its ``traceparent`` trace id on every step's
log lines in the real workers."""

from __future__ import annotations

import json
import time

from octollm.contracts.event import Event
from tests.support.apiserver import api_stack, echo_plan, headers, inproc_client, make_key
from tests.support.stack import LiveStack
from tests.support.streams import stream_entries

__all__ = ["api_stack"]

REQUEST_ID = "req-from-the-web-app-42"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


def stream_events(stack: LiveStack, task_id: str) -> list[Event]:
    rows = stream_entries(stack.redis(), task_id)
    return [Event.model_validate_json(fields[b"event"]) for _, fields in rows]


def test_an_api_submitted_task_carries_its_request_id_and_trace_to_every_event_and_step(
    api_stack: LiveStack,
) -> None:
    api_stack.start_fleet(["orchestrator", "echo"])
    key = make_key(api_stack, "acme")
    with inproc_client(api_stack) as client:
        resp = client.post(
            "/api/v1/tasks",
            json={"goal": "two steps to correlate", "plan": echo_plan(2)},
            headers=headers(key, **{"X-Request-ID": REQUEST_ID, "traceparent": TRACEPARENT}),
        )
        assert resp.status_code == 202, resp.text
        assert resp.headers["x-request-id"] == REQUEST_ID
        task_id = resp.json()["task_id"]
        deadline = time.monotonic() + 30
        while not any(e.event_type == "task.completed" for e in stream_events(api_stack, task_id)):
            assert time.monotonic() < deadline, [
                e.event_type for e in stream_events(api_stack, task_id)
            ]
            time.sleep(0.1)

    events = stream_events(api_stack, task_id)
    kinds = [e.event_type for e in events]
    assert kinds[0] == "task.queued"
    assert kinds.count("step.started") == 2
    assert kinds.count("step.succeeded") == 2
    assert {e.request_id for e in events} == {REQUEST_ID}, [
        (e.event_type, e.request_id) for e in events
    ]
    succeeded = [e for e in events if e.event_type == "step.succeeded"]
    assert all({"model", "cost_usd", "tokens", "duration_ms"} <= set(e.data) for e in succeeded)
    assert all(e.data["cost_usd"] == 0 for e in succeeded)

    workers = list(api_stack.workers)
    api_stack.stop()  # flush the workers' logs
    logged = [
        json.loads(line)
        for worker in workers
        for line in worker.log().splitlines()
        if line.startswith("{")
    ]
    finished = [e for e in logged if e["event"] == "step_succeeded" and e.get("task_id") == task_id]
    assert sorted(e["step_id"] for e in finished) == ["s0", "s1"]
    assert {e["trace_id"] for e in finished} == {TRACE_ID}, "the caller's trace reaches each step"
    assert {e["request_id"] for e in finished} == {REQUEST_ID}
