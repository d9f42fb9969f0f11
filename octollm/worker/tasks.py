"""Celery tasks: thin adapters that decode ids, call orchestrator logic, and translate its
outcome into Celery control flow. Names are explicit and stable, so a refactor cannot orphan
queued messages."""

from __future__ import annotations

from typing import Any

from celery import Task
from celery.signals import worker_process_init

from octollm.config import get_settings
from octollm.errors import StorageUnavailable
from octollm.orchestrator.broker.app import app
from octollm.orchestrator.broker.config import STORAGE_RETRY_CAP_SECONDS
from octollm.orchestrator.broker.result_backend import Backend as OctollmBackend
from octollm.orchestrator.broker.step_failure import StepFailed, continue_canvas
from octollm.orchestrator.capability import admission
from octollm.orchestrator.engine import lifecycle, runner
from octollm.orchestrator.fairness import dispatcher as fair
from octollm.orchestrator.recovery import reconciler
from octollm.orchestrator.runtime import get_runtime, reset_runtime
from octollm.security.capability import TOKEN_HEADER


@worker_process_init.connect
def _after_fork(**_: Any) -> None:
    reset_runtime()


def _storage_countdown(retries: int) -> float:
    cfg = get_settings().orchestrator
    return runner.backoff(retries + 1, cfg.retry_backoff_base_seconds, STORAGE_RETRY_CAP_SECONDS)


@app.task(
    name="octollm.step.run",
    bind=True,
    max_retries=None,
    acks_late=True,
    reject_on_worker_lost=True,
    throws=(StepFailed,),  # an expected end: logged without a traceback
)
def run_step(self: Task, task_id: str, step_id: str, generation: int) -> dict[str, Any]:
    rt = get_runtime(app)
    headers: dict[str, Any] = dict(self.request.headers or {})
    token = headers.get(TOKEN_HEADER)
    try:
        outcome = runner.run_step(
            rt, task_id, step_id, int(generation), token, message_id=self.request.id
        )
    except StorageUnavailable as exc:
        # Postgres is down: nothing was claimed or recorded; deliver the same message later.
        raise self.retry(
            exc=exc, countdown=_storage_countdown(self.request.retries), max_retries=None
        ) from exc
    if fair.enabled(rt):  # a slot in the arm's queue is free: let the next turns in
        fair.after_step(rt)
    if outcome.kind == "retry":
        # The same message goes out again; after an attempt, with a fresh token (the attempt's
        # claim consumed this one): see orchestrator/admission.py.
        if admission.needs_fresh_token(outcome.kind, outcome.reason):
            if not admission.can_issue(rt):  # public keys only: the orchestrator re-sends it
                admission.delegate_retry(
                    rt, token, task_id, step_id, int(generation), outcome.countdown
                )
                return {"step_id": step_id, "outcome": "retry", "detail": "delegated"}
            fresh = admission.reissue(rt, task_id, step_id, int(generation))
            if fresh is not None:
                headers[TOKEN_HEADER] = fresh
        raise self.retry(countdown=outcome.countdown, max_retries=None, headers=headers)
    result = {"step_id": step_id, "outcome": outcome.kind, "detail": outcome.detail}
    if outcome.kind == "failed" and isinstance(self.backend, OctollmBackend):
        # Recorded in Postgres; the Celery task ends in FAILURE (Flower counts it) and the
        # canvas moves on as after a success (orchestrator/broker/step_failure.py).
        continue_canvas(self, result)
        raise StepFailed(f"step {step_id} failed: {outcome.detail or 'error'}")
    return result


@app.task(name=admission.REDELIVER_TASK, bind=True, acks_late=True, max_retries=None)
def redeliver_step(
    self: Task, task_id: str, step_id: str, generation: int, countdown: float
) -> str:
    """A verify-only arm worker's retry, re-published with a fresh token (orchestrator pool)."""
    token = dict(self.request.headers or {}).get(TOKEN_HEADER)
    try:
        return admission.redeliver(
            get_runtime(app), token, task_id, step_id, int(generation), float(countdown),
            message_id=self.request.id,
        )  # fmt: skip
    except StorageUnavailable as exc:
        raise self.retry(
            exc=exc, countdown=_storage_countdown(self.request.retries), max_retries=None
        ) from exc


@app.task(
    name="octollm.task.finalize", bind=True, acks_late=True, reject_on_worker_lost=True,
    max_retries=None,
)  # fmt: skip
def finalize(self: Task, task_id: str, generation: int) -> str:
    try:
        return lifecycle.finalize(get_runtime(app), task_id, int(generation))
    except StorageUnavailable as exc:
        raise self.retry(
            exc=exc, countdown=_storage_countdown(self.request.retries), max_retries=None
        ) from exc


@app.task(name="octollm.task.barrier", acks_late=True)
def barrier(task_id: str, generation: int) -> None:
    """No-op between two parallel levels: keeps the canvas a flat chain of chords."""


@app.task(name="octollm.dispatch", acks_late=True)
def dispatch_fairly() -> int:
    """A fair dispatcher pass (celery beat, with ``orchestrator.fair_dispatch``)."""
    rt = get_runtime(app)
    return fair.kick(rt, periodic=True) if fair.enabled(rt) else 0


@app.task(name="octollm.reconcile", acks_late=True)
def reconcile() -> dict[str, Any]:
    report = reconciler.reconcile(get_runtime(app))
    return {
        "relayed": report.relayed,
        "redriven": report.redriven,
        "dead_lettered": report.dead_lettered,
        "finalized": report.finalized,
        "expired": report.expired,
        "storage_unavailable": report.storage_unavailable,
        "waiting": report.waiting,
    }
