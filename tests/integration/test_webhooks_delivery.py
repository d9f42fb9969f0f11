"""Webhook delivery end to end: real workers (webhooks pool + dispatcher), Redis, Postgres and a
real HTTP receiver on loopback (the only double: it stands for the integrator's server)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from octollm.contracts import TaskContract
from octollm.orchestrator.capability.webhook_messages import redeliver
from octollm.orchestrator.engine import lifecycle
from octollm.webhooks import MemoryReplayStore, attempts, deliveries, register, verify
from tests.support.stack import LiveStack, live_stack, make_runtime, wait_for_task
from tests.support.webhook_receiver import WebhookReceiver, webhook_receiver

SECRET = "whsec_b2N0b2xsbS10ZXN0LXdlYmhvb2stc2VjcmV0LTAxMjM="  # Standard Webhooks: whsec_<base64>


def wait_until(predicate: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached within {timeout} s")
        time.sleep(0.1)


def webhook_env(receiver: WebhookReceiver, max_attempts: int = 6) -> dict[str, str]:
    return {
        "OCTOLLM_WEBHOOKS__ALLOWLIST": json.dumps([receiver.host_port]),
        "OCTOLLM_WEBHOOKS__BACKOFF_BASE_SECONDS": "0.2",
        "OCTOLLM_WEBHOOKS__BACKOFF_MAX_SECONDS": "1",
        "OCTOLLM_WEBHOOKS__MAX_ATTEMPTS": str(max_attempts),
        "OCTOLLM_EVENTS__RECLAIM_IDLE_SECONDS": "3",
    }


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with webhook_receiver(fail_first=3) as r:
        yield r


def started(tmp: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    pinned = os.environ.get("TEST_REDIS_DB")  # a concurrent run keeps its own DB
    return live_stack(tmp, redis_db=int(pinned) if pinned else 13, **env)


def run_echo_task(stack: LiveStack, rt: Any) -> str:
    plan = {"steps": [{"step_id": "a", "arm": "echo", "action": "say hello", "input": {"x": 1}}]}
    task = lifecycle.submit(
        rt, TaskContract(goal="a task whose completion is announced", plan=plan)
    )
    assert wait_for_task(rt, task.id).status == "completed"
    return str(task.id)


def test_a_receiver_failing_three_times_gets_the_event_once_signed_with_four_attempts_recorded(
    tmp_path: Path, receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    with started(tmp_path, webhook_env(receiver), monkeypatch) as stack:
        rt = make_runtime(stack)
        endpoint = register(
            rt.db, "default", receiver.url, ["task.completed"], SECRET, settings=rt.settings
        )
        webhooks = stack.start_worker(["webhooks"], concurrency=4)
        stack.start_fleet(["orchestrator", "echo"])
        task_id = run_echo_task(stack, rt)

        wait_until(receiver.successes, what="a successful delivery")
        [delivery] = wait_until(
            lambda: [
                d
                for d in deliveries(rt.db, "default", endpoint_id=endpoint.id)
                if d.status == "succeeded"
            ],
            what="the delivery marked succeeded",
        )
        time.sleep(1.5)  # nothing else may arrive
        assert len(receiver.successes()) == 1
        assert [r.answered for r in receiver.requests] == [500, 500, 500, 200]

        ok = receiver.successes()[0]
        assert (
            verify(SECRET, ok.headers, ok.body, replay_store=MemoryReplayStore())
            == delivery.event_id
        )
        body = json.loads(ok.body)
        assert body["event_type"] == "task.completed"
        assert body["task_id"] == task_id
        sent = {k.lower(): v for k, v in ok.headers.items()}
        assert sent["webhook-event-type"] == "task.completed"
        assert sent["webhook-id"] == delivery.event_id
        assert sent["webhook-signature"].startswith("v1,")
        assert {r.body for r in receiver.requests} == {ok.body}, "every attempt sends the same body"

        log = attempts(rt.db, "default", delivery.id)
        assert [(a.attempt, a.outcome, a.status_code) for a in log] == [
            (1, "retry", 500),
            (2, "retry", 500),
            (3, "retry", 500),
            (4, "succeeded", 200),
        ]
        assert all(a.duration_ms >= 0 for a in log)
        assert delivery.attempts == 4
        assert SECRET not in webhooks.log(), "the signing secret must never be logged"
        rt.db.dispose()


def test_a_receiver_that_always_fails_ends_dead_lettered_and_is_redelivered_on_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with (
        webhook_receiver(fail_first=10**6, fail_status=503) as receiver,
        started(tmp_path, webhook_env(receiver, max_attempts=3), monkeypatch) as stack,
    ):
        rt = make_runtime(stack)
        endpoint = register(
            rt.db, "default", receiver.url, ["task.*"], SECRET, settings=rt.settings
        )
        stack.start_worker(["webhooks"], concurrency=4)
        stack.start_fleet(["orchestrator", "echo"])
        run_echo_task(stack, rt)

        [completed] = wait_until(
            lambda: [
                d
                for d in deliveries(rt.db, "default", endpoint_id=endpoint.id, status="dead")
                if d.event_type == "task.completed"
            ],
            what="the task.completed delivery dead-lettered",
        )
        assert completed.attempts == 3
        assert completed.dead_reason == "exhausted"
        assert [a.outcome for a in attempts(rt.db, "default", completed.id)] == [
            "retry",
            "retry",
            "dead",
        ]

        receiver.fail_first = 0  # the integrator fixed their server
        before = len(receiver.requests)
        redeliver(rt.db, "default", completed.id, app=rt.app, settings=rt.settings)
        wait_until(
            lambda: [
                d
                for d in deliveries(rt.db, "default", event_id=completed.event_id)
                if d.status == "succeeded"
            ],
            what="the redelivery to succeed",
        )
        # Other events still retrying may also land now; count only this event's deliveries.
        later = [
            r
            for r in receiver.requests[before:]
            if json.loads(r.body)["event_id"] == completed.event_id
        ]
        assert [r.answered for r in later] == [200]
        log = attempts(rt.db, "default", completed.id)
        assert [a.outcome for a in log] == ["retry", "retry", "dead", "succeeded"]
        rt.db.dispose()


def test_other_4xx_answers_are_not_retried_and_retry_after_is_honoured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with (
        webhook_receiver(status_sequence=[429], retry_after="2", default_status=200) as slow,
        webhook_receiver(fail_first=10**6, fail_status=410) as gone,
    ):
        env = webhook_env(slow)
        env["OCTOLLM_WEBHOOKS__ALLOWLIST"] = json.dumps([slow.host_port, gone.host_port])
        with started(tmp_path, env, monkeypatch) as stack:
            rt = make_runtime(stack)
            slow_ep = register(
                rt.db, "default", slow.url, ["task.completed"], SECRET, settings=rt.settings
            )
            gone_ep = register(
                rt.db, "default", gone.url, ["task.completed"], SECRET, settings=rt.settings
            )
            stack.start_worker(["webhooks"], concurrency=4)
            stack.start_fleet(["orchestrator", "echo"])
            run_echo_task(stack, rt)

            [rejected] = wait_until(
                lambda: deliveries(rt.db, "default", endpoint_id=gone_ep.id, status="dead"),
                what="410 dead",
            )
            assert rejected.dead_reason == "rejected"
            assert rejected.attempts == 1
            [ok] = wait_until(
                lambda: deliveries(rt.db, "default", endpoint_id=slow_ep.id, status="succeeded"),
                what="429 then ok",
            )
            first, second = attempts(rt.db, "default", ok.id)
            assert first.status_code == 429
            assert first.retry_in_seconds is not None
            assert first.retry_in_seconds >= 2.0
            assert (second.started_at - first.started_at).total_seconds() >= 1.9
            assert len(gone.requests) == 1
            rt.db.dispose()
