"""Suspects without a quarantine worker: they run on their arm's own pool instead of waiting for
their deadline. Real workers (killed with SIGKILL), Redis, Postgres, reconciler passes in a
thread (what celery beat does).

A worker process that dies with several steps in it makes them all suspects; with a live
quarantine worker they re-run in its lane (``test_durability_crash``), without one they go back
to their arm's queues. A suspect already waiting in the quarantine lane when its last worker
goes away is re-driven to its arm's queues; the stale message left behind runs nothing.
"""

from __future__ import annotations

import signal
from typing import Any

import pytest
from sqlalchemy import func, select

from octollm.contracts import TaskContract
from octollm.orchestrator.broker import queues as routing
from octollm.orchestrator.engine import lifecycle
from octollm.orchestrator.recovery import backlog
from octollm.orchestrator.registry import directory as arm_directory
from octollm.store.models import StepResultRow
from tests.support.stack import LiveStack, reconciling, steps_of, wait_for_task, wait_until

pytestmark = pytest.mark.own_stack  # kills its workers


def _sleep_task(runtime: Any, n: int, seconds: float) -> Any:
    plan = {
        "steps": [
            {"step_id": "s", "arm": "sleep", "action": "sleeps", "input": {"seconds": seconds}}
        ]
    }
    return lifecycle.submit(runtime, TaskContract(goal=f"a co-resident {n}", plan=plan))


def _both_running_in_one_process(runtime: Any, tasks: list[Any]) -> bool:
    owners = {steps_of(runtime, t.id)["s"].lease_owner for t in tasks}
    rows = [steps_of(runtime, t.id)["s"] for t in tasks]
    return all(r.status == "running" for r in rows) and len(owners) == 1 and None not in owners


def _result_rows(runtime: Any, task_id: str) -> int:
    with runtime.db.session() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(StepResultRow)
                .where((StepResultRow.task_id == task_id) & (StepResultRow.step_id == "s"))
            )
            or 0
        )


def _quarantined(runtime: Any) -> int:
    depths = backlog.queued_messages(runtime, {routing.QUARANTINE_ARM}) or {}
    return depths.get(routing.QUARANTINE_ARM, 0)


def _kill_with_two_suspects(stack: LiveStack, runtime: Any) -> list[Any]:
    """Two sleep steps in one threads-pool process, which is then SIGKILLed."""
    victim = stack.start_worker(["sleep"], pool="threads", concurrency=2, name="sleep-victim")
    tasks = [_sleep_task(runtime, n, 3) for n in range(2)]
    wait_until(lambda: _both_running_in_one_process(runtime, tasks), 30, "both steps running")
    victim.kill(signal.SIGKILL)
    return tasks


def test_without_a_quarantine_worker_suspects_run_on_their_arms_pool(
    stack: LiveStack, runtime: Any
) -> None:
    stack.start_fleet(["orchestrator"])
    tasks = _kill_with_two_suspects(stack, runtime)
    stack.start_worker(["sleep"], pool="threads", concurrency=2, name="sleep-replacement")
    with reconciling(runtime) as reports:
        rows = [wait_for_task(runtime, t.id, timeout=60) for t in tasks]
    assert not [r for r in reports if isinstance(r, Exception)]
    assert [r.status for r in rows] == ["completed", "completed"], [r.error for r in rows]
    for task in tasks:
        step = steps_of(runtime, task.id)["s"]
        assert step.suspect, "the shared death made it a suspect"
        assert step.attempts == 1, "a co-resident's death was counted against it"
        assert _result_rows(runtime, task.id) == 1
    assert _quarantined(runtime) == 0, "a suspect was sent to a lane nobody serves"


def test_a_suspect_waiting_in_a_lane_whose_worker_went_away_runs_on_its_arms_pool_once(
    stack: LiveStack, runtime: Any
) -> None:
    stack.start_fleet(["orchestrator"])
    directory = arm_directory.directory_for(runtime.settings)
    assert directory is not None
    lane = routing.quarantine_lane(stack.prefix)
    # A quarantine worker that beats, then goes away without serving anything (its heartbeat
    # is the registry's record; nothing consumes its queues).
    directory.lane_heartbeat("vanishing@quarantine-host", [lane])
    tasks = _kill_with_two_suspects(stack, runtime)
    with reconciling(runtime):
        wait_until(lambda: _quarantined(runtime) >= 2, 60, "the suspects in the quarantine lane")
        directory.withdraw("vanishing@quarantine-host", [], [lane])
        stack.start_worker(["sleep"], pool="threads", concurrency=2, name="sleep-replacement")
        rows = [wait_for_task(runtime, t.id, timeout=60) for t in tasks]
    assert [r.status for r in rows] == ["completed", "completed"], [r.error for r in rows]
    generations = {t.id: steps_of(runtime, t.id)["s"].generation for t in tasks}
    # The stale messages still in the lane: a quarantine worker now takes them and runs nothing.
    assert _quarantined(runtime) >= 2
    stack.start_worker(["quarantine"], pool="prefork", concurrency=1, name="quarantine-late")
    wait_until(lambda: _quarantined(runtime) == 0, 30, "the stale messages consumed")
    for task in tasks:
        step = steps_of(runtime, task.id)["s"]
        assert step.suspect
        assert step.attempts == 1
        assert step.generation == generations[task.id]
        assert _result_rows(runtime, task.id) == 1, "the suspect ran twice"
