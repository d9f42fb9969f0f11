"""Capability tokens on real workers: a step message with a missing, expired, wrong-audience or
replayed token is refused, recorded in ``security_events``, and its step does not run; the
executor holds a command to the token's constraints.

Each refusal test parks a task: it is submitted while no worker serves its arm, its canvas is
purged from the broker, and the test sends the step message itself (``send``), with the token
it wants to try.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from octollm.contracts import TaskContract
from octollm.contracts.task import Budget
from octollm.orchestrator.broker import queues
from octollm.orchestrator.capability import issuing
from octollm.orchestrator.engine import lifecycle
from octollm.security.capability import TOKEN_HEADER
from octollm.store import security_events
from tests.support.arms import tallied
from tests.support.stack import (
    LiveStack,
    live_stack,
    make_runtime,
    steps_of,
    wait_for_task,
    wait_until,
)


@pytest.fixture
def rt(stack: LiveStack) -> Iterator[Any]:
    runtime = make_runtime(stack)
    yield runtime
    runtime.db.dispose()


def park(stack: LiveStack, rt: Any, arm: str, step_input: dict[str, Any], **budget: Any) -> str:
    """Submit a one-step task whose message never reaches a worker; returns the task id."""
    plan = {"steps": [{"step_id": "s", "arm": arm, "action": "act", "input": step_input}]}
    task = lifecycle.submit(
        rt, TaskContract(goal="a task for token tests", plan=plan, budget=Budget(**budget))
    )
    stack.redis().delete(*stack.queues([arm]))
    return task.id


def issue(stack: LiveStack, task_id: str, arm: str, **overrides: Any) -> str:
    fields: dict[str, Any] = {
        "arm": arm,
        "task_id": task_id,
        "step_id": "s",
        "generation": 1,
        "expires_at": time.time() + 300,
        "scopes": ("step:run", f"arm:{arm}"),
    }
    fields.update(overrides)
    return issuing.authority(stack.settings()).issue(**fields)


def send(stack: LiveStack, rt: Any, task_id: str, arm: str, token: str | None) -> None:
    queue = queues.queue_name(stack.prefix, arm, "medium", broker_url=stack.redis_url)
    rt.app.send_task(
        "octollm.step.run",
        args=(task_id, "s", 1),
        headers={TOKEN_HEADER: token} if token else None,
        queue=queue,
        ignore_result=True,
    )


def events(rt: Any, task_id: str) -> list[Any]:
    with rt.db.session() as session:
        return security_events.for_task(session, task_id)


def refused(rt: Any, task_id: str, kind: str) -> Any:
    def found() -> Any:
        return next((e for e in events(rt, task_id) if e.kind == kind), None)

    return wait_until(found, 20, f"a {kind} security event")


@pytest.mark.parametrize("kind", ["missing", "expired", "wrong_audience"])
def test_a_step_message_with_a_bad_token_is_refused_recorded_and_its_step_not_run(
    stack: LiveStack, rt: Any, tmp_path: Path, kind: str
) -> None:
    tally = tmp_path / "echo.calls"
    task_id = park(stack, rt, "echo", {"tally": str(tally)})
    token = {
        "missing": None,
        "expired": issue(stack, task_id, "echo", expires_at=time.time() - 60),
        "wrong_audience": issue(stack, task_id, "executor"),
    }[kind]
    stack.start_fleet(["orchestrator", "echo"])
    send(stack, rt, task_id, "echo", token)
    event = refused(rt, task_id, kind)
    assert (event.step_id, event.generation, event.arm) == ("s", 1, "echo")
    assert event.worker
    assert event.message_id
    if token is not None:
        assert event.jti
        assert len(event.jti) == 32
    step = steps_of(rt, task_id)["s"]
    assert (step.status, step.attempts) == ("queued", 0), "the refused message changed nothing"
    assert tallied(tally) == []
    send(stack, rt, task_id, "echo", issue(stack, task_id, "echo"))  # a valid one runs it
    assert wait_for_task(rt, task_id, timeout=20).status == "completed"
    assert tallied(tally) == ["s"]


def test_a_replayed_token_is_refused_while_the_steps_own_retry_runs(tmp_path: Path) -> None:
    # A slow backoff keeps the step queued for its retry long enough to replay the first token.
    with live_stack(tmp_path, OCTOLLM_ORCHESTRATOR__RETRY_BACKOFF_BASE_SECONDS="4") as stack:
        rt = make_runtime(stack)
        try:
            counter = tmp_path / "flaky.calls"
            task_id = park(stack, rt, "flaky", {"counter_file": str(counter), "fail_times": 1})
            first = issue(stack, task_id, "flaky")
            stack.start_fleet(["orchestrator", "flaky"])
            send(stack, rt, task_id, "flaky", first)
            wait_until(lambda: len(tallied(counter)) == 1, 20, "the first attempt")
            wait_until(lambda: steps_of(rt, task_id)["s"].status == "queued", 10, "requeued")
            send(stack, rt, task_id, "flaky", first)  # the same message again
            event = refused(rt, task_id, "replayed")
            assert "already used" in event.details["message"]
            row = wait_for_task(rt, task_id, timeout=30)
            assert row.status == "completed", row.error
            assert steps_of(rt, task_id)["s"].attempts == 2, "the retry had a fresh token"
            assert len(tallied(counter)) == 2
            assert [e.kind for e in events(rt, task_id)] == ["replayed"]
        finally:
            rt.db.dispose()


def test_a_duplicate_of_a_finished_step_is_a_no_op_and_not_a_security_event(
    stack: LiveStack, rt: Any, tmp_path: Path
) -> None:
    tally = tmp_path / "echo.calls"
    task_id = park(stack, rt, "echo", {"tally": str(tally)})
    token = issue(stack, task_id, "echo")
    stack.start_fleet(["orchestrator", "echo"])
    send(stack, rt, task_id, "echo", token)
    assert wait_for_task(rt, task_id, timeout=20).status == "completed"
    send(stack, rt, task_id, "echo", token)  # a lost-ack redelivery looks like this
    send(stack, rt, task_id, "echo", None)
    time.sleep(1.5)
    assert tallied(tally) == ["s"]
    assert events(rt, task_id) == []


def test_the_executor_refuses_a_command_its_token_does_not_grant(stack: LiveStack, rt: Any) -> None:
    task_id = park(stack, rt, "executor", {"language": "shell", "command": "echo hello"})
    narrow = issue(
        stack,
        task_id,
        "executor",
        constraints={"allowed_commands": ["ls"], "max_duration": 10, "network": False},
    )
    stack.start_fleet(["orchestrator"])
    stack.start_worker(["executor"], pool="prefork", concurrency=1)
    send(stack, rt, task_id, "executor", narrow)
    row = wait_for_task(rt, task_id, timeout=30)
    error = steps_of(rt, task_id)["s"].error
    assert row.status == "failed"
    assert error["code"] == "ARM_REFUSED"
    assert error["details"]["rule"] == "capability"
    assert "not granted by the capability token" in error["message"]


def test_the_orchestrators_own_token_lets_the_executor_run_the_planned_command(
    stack: LiveStack, rt: Any
) -> None:
    stack.start_fleet(["orchestrator"])
    stack.start_worker(["executor"], pool="prefork", concurrency=1)
    plan = {
        "steps": [
            {
                "step_id": "s",
                "arm": "executor",
                "action": "greet",
                "input": {"language": "shell", "command": "echo hello"},
            }
        ]
    }
    task = lifecycle.submit(rt, TaskContract(goal="run one granted command", plan=plan))
    row = wait_for_task(rt, task.id, timeout=30)
    assert row.status == "completed", row.error
    assert row.result["steps"]["s"]["stdout"] == "hello\n"
    assert events(rt, task.id) == []
