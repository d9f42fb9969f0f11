"""Re-driving: how every repair continues a task.

The unfinished part of a task's DAG is queued again under a new *generation* and compiled into
a new canvas (through the outbox, in the caller's transaction). Messages of older generations
find their claim refused (``stale``) and do nothing, so an old canvas still in the broker is
harmless. Finished steps keep their stored outputs and are not run again, unless a resume or a
replay resets them: a step and everything that depends on it, with attempts, errors and
outputs cleared. Running steps whose lease is alive are adopted into the new generation
untouched; the new canvas waits for them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from octollm.contracts.plan import PLAN_STEP_ID
from octollm.contracts.status import UNFINISHED_STEP_STATUSES, TaskStatus
from octollm.orchestrator.engine import dispatch, expansion
from octollm.store import steps as step_repo
from octollm.store import tasks as task_repo
from octollm.store.db import Session
from octollm.store.models import StepRow, TaskRow


def reopen(session: Session, task: TaskRow) -> None:
    """Make a terminal task live again (resume, replay), with a fresh deadline."""
    budget_seconds = int(task.contract["budget"]["max_time_seconds"])
    task_repo.reopen(
        session,
        task.id,
        TaskStatus.PROCESSING if task.plan is not None else TaskStatus.QUEUED,
        datetime.now(UTC) + timedelta(seconds=budget_seconds),
    )


def redrive_in(
    session: Session,
    task: TaskRow,
    *,
    reset: set[str] | None = None,
    quarantine: bool | Callable[[], bool] = False,
) -> dispatch.Outbox | None:
    """Queue the unfinished part of ``task`` under a new generation; returns its outbox.

    ``reset``: steps to run again from scratch, with everything that depends on them (their
    attempts, errors and outputs are cleared). Running steps whose lease is alive are adopted
    into the new generation untouched; the new canvas waits for them. ``quarantine``: suspect
    steps are published to the quarantine lane (``recovery/isolation.py``); a callable is asked
    only when a suspect is queued (``isolation.lane_open`` looks for a live quarantine worker)."""
    rows = step_repo.for_task(session, task.id)
    fresh = step_repo.dependants(rows, reset) if reset else set()
    now = datetime.now(UTC)

    def alive(r: StepRow) -> bool:
        return r.status == "running" and r.lease_until is not None and r.lease_until > now

    adopted = [r for r in rows if alive(r) and r.step_id not in fresh]
    again = [r for r in rows if r.step_id in fresh and not alive(r)]
    unfinished = [
        r
        for r in rows
        if r.status in UNFINISHED_STEP_STATUSES and not alive(r) and r.step_id not in fresh
    ]
    if not (adopted or again or unfinished):
        return None
    generation = task.generation + 1
    task_repo.set_generation(session, task.id, generation)
    step_repo.requeue_for_generation(
        session, task.id, [r.step_id for r in again], generation, fresh=True
    )
    step_repo.requeue_for_generation(
        session, task.id, [r.step_id for r in unfinished], generation, fresh=False
    )
    step_repo.move_generation(session, task.id, [r.step_id for r in adopted], generation)
    chosen = {r.step_id for r in (*adopted, *again, *unfinished)}
    queued = [r for r in rows if r.step_id in chosen]
    planning = any(r.step_id == PLAN_STEP_ID for r in queued)
    if callable(quarantine):
        quarantine = any(r.suspect for r in queued) and quarantine()
    return dispatch.enqueue(
        session,
        task.id,
        generation,
        expansion.specs(queued, quarantine=quarantine),
        task.priority,
        finalize=not planning,
    )
