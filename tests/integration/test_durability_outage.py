"""Services that go away mid-task: Redis flushed, PostgreSQL stopped for ten seconds.

Each test owns the server it breaks (``private_redis`` / ``private_postgres``): flushing or
stopping the machine's shared services would break other people's runs. Reconciler passes run
in a thread, as celery beat runs them in production.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from octollm.contracts import TaskContract
from octollm.contracts.task import Budget
from octollm.errors import StorageUnavailable
from octollm.orchestrator.engine import lifecycle
from octollm.orchestrator.recovery import deadletters, reconciler
from octollm.store.models import StepResultRow
from tests.support.arms import tallied
from tests.support.stack import (
    LiveStack,
    live_stack,
    make_runtime,
    reconciling,
    steps_of,
    wait_for_task,
    wait_until,
)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[LiveStack, Any]]:
    with live_stack(tmp_path, private_redis=True) as s:
        yield s, make_runtime(s)
        gc.collect()  # Celery results reach for their backend when collected: do it now


@pytest.fixture
def own_services(tmp_path: Path) -> Iterator[tuple[LiveStack, Any]]:
    with live_stack(tmp_path, private_redis=True, private_postgres=True) as s:
        yield s, make_runtime(s)
        gc.collect()


@pytest.mark.exclusive  # a time bound: the machine must be quiet
def test_a_flushed_redis_mid_task_is_repaired_from_postgres(
    own_redis: tuple[LiveStack, Any],
) -> None:
    """A flush loses what sits in Redis: queued messages and chord counters (a running step's
    continuation travels with its message, in the worker's memory, and survives)."""
    stack, rt = own_redis
    stack.start_fleet(["orchestrator", "sleep"])  # the echo pool is busy elsewhere / down
    plan = {
        "steps": [
            {"step_id": "s1", "arm": "sleep", "action": "first", "input": {"seconds": 0.3}},
            {"step_id": "e1", "arm": "echo", "action": "left", "depends_on": ["s1"]},
            {"step_id": "e2", "arm": "echo", "action": "right", "depends_on": ["s1"]},
            {
                "step_id": "s2",
                "arm": "sleep",
                "action": "join",
                "depends_on": ["e1", "e2"],
                "input": {"seconds": 0.3},
            },
            {
                "step_id": "s3",
                "arm": "sleep",
                "action": "last",
                "depends_on": ["s2"],
                "input": {"seconds": 0.3},
            },
        ]
    }
    task = lifecycle.submit(rt, TaskContract(goal="survive a flushed broker", plan=plan))
    client = stack.redis()
    echo_queue = stack.queues(["echo"])[2]  # <prefix>.echo.medium
    wait_until(lambda: client.llen(echo_queue) == 2, 20, "the chord header queued")
    client.flushdb()  # the two queued messages and the chord behind them are gone
    stack.start_worker(["echo"])
    started = time.monotonic()
    with reconciling(rt) as reports:
        row = wait_for_task(rt, task.id, timeout=30)
    assert row.status == "completed", row.error
    steps = steps_of(rt, task.id)
    assert {s: r.attempts for s, r in steps.items()} == {
        "s1": 1,
        "e1": 1,
        "e2": 1,
        "s2": 1,
        "s3": 1,
    }
    assert sorted(row.result["steps"]["s2"]) == ["slept"]
    assert any(task.id in getattr(r, "redriven", []) for r in reports), reports
    # re-driven once the lost steps had been ready for stall_seconds (4 s here)
    assert time.monotonic() - started < 15
    rt.db.dispose()


def _results(rt: Any, task_id: str) -> dict[str, int]:
    with rt.db.session() as session:
        rows = session.execute(
            select(StepResultRow.step_id, func.count())
            .where(StepResultRow.task_id == task_id)
            .group_by(StepResultRow.step_id)
        ).all()
    return {r[0]: int(r[1]) for r in rows}


def test_postgres_down_for_ten_seconds_while_steps_finish_loses_no_output(
    own_services: tuple[LiveStack, Any],
) -> None:
    stack, rt = own_services
    stack.start_fleet(["orchestrator", "echo"])
    stack.start_worker(["sleep"], concurrency=4)
    fan = [
        {"step_id": f"w{i}", "arm": "sleep", "action": "works", "input": {"seconds": 2}}
        for i in range(4)
    ]
    plan = {
        "steps": [
            *fan,
            {
                "step_id": "join",
                "arm": "echo",
                "action": "joins",
                "depends_on": [s["step_id"] for s in fan],
            },
        ]
    }
    task = lifecycle.submit(rt, TaskContract(goal="survive a database outage", plan=plan))
    wait_until(
        lambda: all(r.status == "running" for s, r in steps_of(rt, task.id).items() if s != "join"),
        20,
        "the four steps running",
    )
    with reconciling(rt) as reports:
        stack.stop_postgres()
        down_at = time.monotonic()
        # What every caller (the API included) sees meanwhile: StorageUnavailable, a 503.
        with pytest.raises(StorageUnavailable):
            lifecycle.submit(rt, TaskContract(goal="submitted during the outage"))
        assert reconciler.reconcile(rt).storage_unavailable
        time.sleep(max(0.0, 10 - (time.monotonic() - down_at)))  # the steps finish meanwhile
        stack.start_postgres()
        row = wait_for_task(rt, task.id, timeout=40)
    assert row.status == "completed", row.error
    # Each output is stored exactly once, whether it was kept in memory through the outage
    # or its step ran again after its lease expired; the join saw all four.
    assert _results(rt, task.id) == {"w0": 1, "w1": 1, "w2": 1, "w3": 1, "join": 1}
    assert sorted(row.result["steps"]["join"]["received"]) == ["w0", "w1", "w2", "w3"]
    assert all(r.status == "succeeded" for r in steps_of(rt, task.id).values())
    assert not [r for r in reports if isinstance(r, Exception)], reports
    rt.db.dispose()


WINDOW = 2.0  # orchestrator.outcome_record_seconds for the long-outage test


@pytest.fixture
def short_window(tmp_path: Path) -> Iterator[tuple[LiveStack, Any]]:
    env = {"OCTOLLM_ORCHESTRATOR__OUTCOME_RECORD_SECONDS": str(WINDOW)}
    with live_stack(tmp_path, private_redis=True, private_postgres=True, **env) as s:
        yield s, make_runtime(s)
        gc.collect()


@pytest.mark.parametrize("retries", [3, 0], ids=["attempts-left", "last-attempt"])
def test_postgres_down_for_twice_the_recording_window_neither_loses_nor_reruns_a_finished_step(
    short_window: tuple[LiveStack, Any], tmp_path: Path, retries: int
) -> None:
    """The attempt finishes during the outage, gives up recording after the window, journals
    its output and lets its lease lapse; the next claim records the journalled output (on the
    last attempt, where nothing is left to claim, the step is adopted without a new attempt)."""
    stack, rt = short_window
    stack.start_fleet(["orchestrator", "echo"])
    ledger = tmp_path / "work.calls"
    plan = {
        "steps": [
            {
                "step_id": "work",
                "arm": "echo",
                "action": "works",
                "input": {"sleep": 1.0, "tally": str(ledger)},
            },
            {"step_id": "after", "arm": "echo", "action": "follows", "depends_on": ["work"]},
        ]
    }
    contract = TaskContract(
        goal="outlast the recording window", plan=plan, budget=Budget(max_retries=retries)
    )
    task = lifecycle.submit(rt, contract)
    wait_until(lambda: tallied(ledger), 20, "the step running")
    with reconciling(rt) as reports:
        stack.stop_postgres()
        down_at = time.monotonic()
        worker = stack.workers[1]
        wait_until(lambda: "outcome_journalled" in worker.log(), 20, "the outcome journalled")
        time.sleep(max(0.0, 2 * WINDOW - (time.monotonic() - down_at)))
        stack.start_postgres()
        row = wait_for_task(rt, task.id, timeout=40)
    assert row.status == "completed", row.error
    assert tallied(ledger) == ["work"], "the finished step ran again"
    assert _results(rt, task.id) == {"work": 1, "after": 1}
    assert row.result["steps"]["after"]["received"]["work"]["step"] == "work"
    assert "journalled_outcome_recorded" in "".join(w.log() for w in stack.workers)
    assert not [r for r in reports if isinstance(r, Exception)], reports
    rt.db.dispose()


#: (arm, input, max_retries) of a step whose failure or retry is decided during the outage.
_UNRECORDED = {
    "permanent-failure": ("fail", {"message": "refused by the arm"}, 3),
    "last-attempt-transient": ("flaky", {}, 0),
    "retry": ("flaky", {"fail_times": 1}, 3),
}


@pytest.mark.parametrize("case", list(_UNRECORDED))
def test_a_failure_or_retry_decided_while_postgres_is_down_is_not_lost(
    short_window: tuple[LiveStack, Any], tmp_path: Path, case: str
) -> None:
    """The attempt fails during the outage and cannot record that for the whole window: the
    decision goes to the journal, and the next claim records it with the arm's own error
    (not REDELIVERY_LIMIT, not a second run of a permanent failure). A journalled retry is
    reported and the retry runs."""
    stack, rt = short_window
    stack.start_fleet(["orchestrator", "echo", "fail", "flaky"])
    arm, extra, retries = _UNRECORDED[case]
    ledger = tmp_path / "work.calls"
    step_input = {"sleep": 1.0, "tally": str(ledger), "counter_file": str(ledger), **extra}
    plan = {
        "steps": [
            {"step_id": "work", "arm": arm, "action": "works", "input": step_input},
            {"step_id": "after", "arm": "echo", "action": "follows", "depends_on": ["work"]},
        ]
    }
    contract = TaskContract(
        goal="decide during an outage", plan=plan, budget=Budget(max_retries=retries)
    )
    task = lifecycle.submit(rt, contract)
    wait_until(lambda: tallied(ledger), 20, "the step running")
    with reconciling(rt) as reports:
        stack.stop_postgres()
        down_at = time.monotonic()
        logs = lambda: "".join(w.log() for w in stack.workers)  # noqa: E731
        wait_until(lambda: "outcome_journalled" in logs(), 20, "the outcome journalled")
        time.sleep(max(0.0, 2 * WINDOW - (time.monotonic() - down_at)))
        stack.start_postgres()
        row = wait_for_task(rt, task.id, timeout=40)
    work = steps_of(rt, task.id)["work"]
    letters = deadletters.list_dead_letters(rt, deadletters.DeadLetterFilter(task_id=task.id))
    if case == "retry":
        assert row.status == "completed", row.error
        assert len(tallied(ledger)) == 2, "the retry ran once"
        assert "journalled_retry_observed" in logs()
        assert (work.status, work.attempts) == ("succeeded", 2)
        assert not letters
    else:
        assert row.status == "failed"
        assert len(tallied(ledger)) == 1, "the failed step ran again"
        assert "journalled_outcome_recorded" in logs()
        expected = "ARM_FAILED" if case == "permanent-failure" else "TRANSIENT_ERROR"
        assert (row.error["code"], row.error["step_id"]) == (expected, "work")
        assert (work.status, work.error["code"]) == ("failed", expected)
        if case == "last-attempt-transient":
            assert [(d.step_id, d.reason) for d in letters] == [("work", "exhausted")]
        else:
            assert not letters
    assert not [r for r in reports if isinstance(r, Exception)], reports
    rt.db.dispose()


def test_a_503_during_a_database_outage_says_when_to_retry_and_names_no_host(
    stack: LiveStack,
) -> None:
    from octollm.store.db import Database
    from tests.support.apiserver import headers, inproc_client, make_key

    key = make_key(stack, "acme")
    with inproc_client(stack) as client:
        state = client.app.state.octollm  # type: ignore[attr-defined]
        away = Database("postgresql+psycopg://nobody@127.0.0.1:1/none", connect_timeout=1)
        real, state.runtime.db = state.runtime.db, away
        try:
            resp = client.get("/api/v1/tasks", headers=headers(key))
        finally:
            state.runtime.db = real
            away.dispose()
    assert resp.status_code == 503
    assert int(resp.headers["retry-after"]) >= 1
    error = resp.json()["error"]
    assert error["code"] == "STORAGE_UNAVAILABLE"
    assert error["details"]["retry_after"] >= 1
    for leak in ("127.0.0.1", "port", "nobody", "psycopg", "connection"):
        assert leak not in resp.text.lower(), leak


def _restart_redis(stack: LiveStack) -> None:
    """Stop the stack's private Redis and start it again on the same socket (empty: it keeps
    nothing on disk), so every client connection is lost."""
    from octollm.embedded.redis import launch_redis

    (server,) = stack.services
    server.stop(10)
    time.sleep(1.0)
    stack.services = [launch_redis(stack.tmp / "redis", log_dir=stack.tmp / "logs")]
    stack.services[0].wait_ready(10)


@pytest.mark.parametrize("cancel", [False, True], ids=["kept-running", "cancelled"])
def test_a_lost_broker_connection_mid_step_applies_the_keyed_effect_once(
    cancel: bool, tmp_path: Path
) -> None:
    """The step's external effect is done, its outcome not yet recorded, when every broker
    connection drops. Kept running (octollm's default), the step records its outcome in
    Postgres and runs once. Cancelled (Celery's ``worker_cancel_long_running_tasks_on_
    connection_loss``), it runs again, and only ``ctx.idempotency_key`` keeps the effect single."""
    from octollm.arms.base import step_idempotency_key
    from tests.support.webhook_receiver import webhook_receiver

    flag = {"OCTOLLM_ORCHESTRATOR__CANCEL_STEPS_ON_CONNECTION_LOSS": str(cancel).lower()}
    with live_stack(tmp_path, private_redis=True, **flag) as stack:
        rt = make_runtime(stack)
        stack.start_fleet(["orchestrator"])
        worker = stack.start_worker(["effect"], pool="prefork", concurrency=1)
        ledger = tmp_path / "effect.calls"
        with webhook_receiver() as side:
            effect = {"url": side.url, "then": 2.0, "tally": str(ledger)}
            plan = {
                "steps": [{"step_id": "pay", "arm": "effect", "action": "pays", "input": effect}]
            }
            task = lifecycle.submit(rt, TaskContract(goal="pay exactly once", plan=plan))
            wait_until(lambda: side.requests, 20, "the effect applied")
            _restart_redis(stack)  # every worker connection drops
            with reconciling(rt):
                row = wait_for_task(rt, task.id, timeout=60)
        assert "Connection to broker lost" in worker.log()
        assert row.status == "completed", row.error
        keys = {
            {k.lower(): v for k, v in r.headers.items()}["idempotency-key"] for r in side.requests
        }
        assert keys == {step_idempotency_key(task.id, "pay")}, "the keyed effect applied once"
        runs = len(tallied(ledger))
        print(
            f"cancel_on_connection_loss={cancel}: arm runs={runs}, "
            f"effect requests={len(side.requests)}"
        )
        if not cancel:
            assert runs == 1, tallied(ledger)  # not even attempted twice
        assert _results(rt, task.id) == {"pay": 1}
        rt.db.dispose()
        gc.collect()
