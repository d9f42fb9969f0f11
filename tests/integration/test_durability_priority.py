"""Urgency order on a busy arm: a critical step overtakes a deep queue of low-urgency ones."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, text

from octollm.contracts import TaskContract
from octollm.contracts.status import Priority
from octollm.orchestrator.engine import lifecycle
from octollm.store.models import StepRow, TaskRow
from tests.support.stack import LiveStack, steps_of, wait_for_task, wait_until

ONE_ECHO = {"steps": [{"step_id": "e", "arm": "echo", "action": "one step"}]}


def _started(rt: Any, priority: str) -> int:
    with rt.db.session() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(StepRow)
                .join(TaskRow, TaskRow.id == StepRow.task_id)
                .where((TaskRow.priority == priority) & StepRow.started_at.is_not(None))
            )
            or 0
        )


def test_a_critical_step_is_picked_up_within_two_tasks_of_a_deep_low_queue(
    stack: LiveStack, runtime: Any
) -> None:
    stack.start_worker(["orchestrator"], concurrency=2)
    for i in range(200):
        lifecycle.submit(
            runtime,
            TaskContract(goal=f"low urgency work {i}", priority=Priority.LOW, plan=ONE_ECHO),
        )
    stack.start_worker(["echo"], concurrency=1, name="echo-single")
    wait_until(lambda: _started(runtime, "low") >= 20, 30, "the low queue draining")
    with runtime.db.session() as session:
        submitted_at = session.scalar(text("SELECT clock_timestamp()"))
    urgent = lifecycle.submit(
        runtime, TaskContract(goal="urgent work", priority=Priority.CRITICAL, plan=ONE_ECHO)
    )
    row = wait_for_task(runtime, urgent.id, timeout=30)
    assert row.status == "completed", row.error
    picked_at = steps_of(runtime, urgent.id)["e"].started_at
    with runtime.db.session() as session:
        overtaken_by = session.scalar(
            select(func.count())
            .select_from(StepRow)
            .join(TaskRow, TaskRow.id == StepRow.task_id)
            .where(
                (TaskRow.priority == "low")
                & (StepRow.started_at > submitted_at)
                & (StepRow.started_at < picked_at)
            )
        )
    assert overtaken_by is not None
    assert overtaken_by <= 2, f"{overtaken_by} low steps started before the critical one"
    assert 200 - _started(runtime, "low") >= 100, "the low queue was not deep any more"
