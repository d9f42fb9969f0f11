"""The Python client and the README's web-app example against a real uvicorn process."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time

import pytest

from octollm.client import (
    AsyncOctoClient,
    ConflictError,
    NotFoundError,
    OctoClient,
    RateLimitError,
    ValidationError,
    WaitTimeout,
)
from tests.support.apiserver import api_server, api_stack, echo_plan, make_key
from tests.support.stack import ROOT, LiveStack

__all__ = ["api_stack"]


def test_the_web_app_example_streams_progress_and_returns_the_result(
    api_stack: LiveStack,
) -> None:
    api_stack.start_fleet(["orchestrator", "echo"])
    key = make_key(api_stack, "webapp")
    with api_server(api_stack) as api:
        proc = subprocess.run(
            [
                sys.executable,
                "examples/webapp.py",
                "--url",
                api.url,
                "--api-key",
                key,
                "--goal",
                "echo three steps for the web app",
                "--plan",
                json.dumps(echo_plan(3)),
            ],
            cwd=ROOT,
            env=api_stack.env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith("queued task-")
    assert lines.count("step.succeeded s0") == 1
    assert "step.succeeded s2" in lines
    assert lines[-2] == "task.completed"
    final = json.loads(lines[-1])
    assert final["status"] == "completed"
    assert set(final["result"]["steps"]) == {"s0", "s1", "s2"}


def test_the_sync_client_covers_the_task_lifecycle_and_raises_typed_errors(
    api_stack: LiveStack,
) -> None:
    api_stack.start_fleet(["orchestrator", "sleep"])
    key = make_key(api_stack, "client")
    plan = {
        "steps": [{"step_id": "nap", "arm": "sleep", "action": "wait", "input": {"seconds": 30}}]
    }
    with api_server(api_stack) as api, OctoClient(api.url, api_key=key) as client:
        accepted = client.submit("sleep so that we can cancel", plan=plan, priority="high")
        assert client.get(accepted.task_id).priority == "high"
        with pytest.raises(WaitTimeout):
            client.wait_for_completion(accepted.task_id, timeout=0.5, poll_interval=0.1)
        client.cancel(accepted.task_id)
        done = client.wait_for_completion(accepted.task_id, timeout=5)
        assert done.status == "cancelled"
        assert done.terminal
        with pytest.raises(ConflictError):
            client.cancel(accepted.task_id)
        resumed = client.resume(accepted.task_id)
        assert resumed.status in ("queued", "processing")
        client.cancel(accepted.task_id)
        with pytest.raises(NotFoundError):
            client.get("task-00000000-0000-4000-8000-000000000000")
        with pytest.raises(ValidationError) as bad:
            client.submit("short")
        assert bad.value.details["errors"][0]["field"] == "body.goal"
        listed = [t.task_id for t in client.iter_tasks(limit=1)]
        assert listed == [accepted.task_id]
        steps = client.steps(accepted.task_id)
        assert [s.step_id for s in steps] == ["nap"]


def test_the_client_retries_a_429_after_retry_after_and_then_gives_up(
    api_stack: LiveStack,
) -> None:
    tight = {
        "rate_limits": {
            "submit": {"rate": 1, "burst": 1},
            "submit_per_key": {"rate": 100, "burst": 100},
            "read": {"rate": 100, "burst": 100},
            "read_per_key": {"rate": 100, "burst": 100},
        }
    }
    key = make_key(api_stack, "client")
    with api_server(api_stack, **tight) as api:
        with OctoClient(api.url, api_key=key, max_retries=3) as client:
            client.submit("first one fills the bucket")
            began = time.monotonic()
            client.submit("second one waits for the refill")
            assert time.monotonic() - began >= 0.9
        time.sleep(1.1)  # the bucket refills one token
        with OctoClient(api.url, api_key=key, max_retries=0) as impatient:
            impatient.submit("drain the bucket again", use_cache=False)
            with pytest.raises(RateLimitError) as limited:
                impatient.submit("no retries allowed here")
    assert limited.value.retry_after is not None
    assert limited.value.retry_after >= 1


def test_the_async_client_streams_and_waits(api_stack: LiveStack) -> None:
    api_stack.start_fleet(["orchestrator", "echo"])
    key = make_key(api_stack, "client")

    async def scenario(url: str) -> tuple[list[str], str, set[str | None]]:
        async with AsyncOctoClient(url, api_key=key) as client:
            accepted = await client.submit(
                "two async echo steps", plan=echo_plan(2, 0.2), request_id="req-async-7"
            )
            events = [e async for e in client.stream(accepted.task_id)]
            task = await client.wait_for_completion(accepted.task_id, timeout=10)
            assert task.request_id == "req-async-7"
            return [e.event_type for e in events], task.status, {e.request_id for e in events}

    with api_server(api_stack) as api:
        types, status, request_ids = asyncio.run(scenario(api.url))
    assert status == "completed"
    assert request_ids == {"req-async-7"}, "the caller's request id is on every event"
    assert types[0] == "task.queued"
    assert types[-1] == "task.completed"
    assert types.count("step.succeeded") == 2
