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
from octollm.errors import StorageUnavailable
from octollm.orchestrator import lifecycle, reconciler
from octollm.store.models import StepResultRow
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
