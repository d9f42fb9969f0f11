"""Run one step delivery: claim, load dependencies, run the arm within limits, record.

The Celery task around this is a thin adapter; everything here is callable without a broker.
Outcomes tell the adapter what to do: ``done``/``noop``/``failed`` return normally (so canvases
keep moving), ``retry`` re-publishes the same message after a countdown.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import structlog
from sqlalchemy import select
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_exponential

from octollm.arms.base import ArmContext, ArmResult
from octollm.arms.registry import get_arm
from octollm.contracts.arm import ErrorInfo, ProvenanceMetadata
from octollm.contracts.plan import Plan
from octollm.contracts.status import StepStatus, TaskStatus
from octollm.errors import (
    BudgetExceeded,
    Cancelled,
    InvalidPlan,
    OctoError,
    StepTimeout,
    StorageUnavailable,
    TransientError,
)
from octollm.logging import bind_unit_of_work
from octollm.orchestrator import lifecycle
from octollm.orchestrator.collaborators import services_for
from octollm.orchestrator.lease import ensure_lease_keeper
from octollm.orchestrator.metering import MeteredLLM, llm_for
from octollm.orchestrator.runtime import Runtime
from octollm.store import steps as step_repo
from octollm.store import tasks as task_repo
from octollm.store.models import DeadLetterRow, StepRow, TaskRow

log = structlog.get_logger(__name__)

_pool = ThreadPoolExecutor(max_workers=64, thread_name_prefix="octollm-arm")


@dataclass(frozen=True)
class Outcome:
    kind: Literal["done", "noop", "retry", "failed"]
    detail: str = ""
    countdown: float = 0.0


def backoff(attempt: int, base: float, cap: float, retry_after: float | None = None) -> float:
    """Exponential backoff with full jitter in [0.5, 1.5) x, never below ``retry_after``."""
    delay = min(cap, base * 2 ** max(0, attempt - 1)) * random.uniform(0.5, 1.5)  # noqa: S311
    return max(delay, retry_after or 0.0)


def run_step(rt: Runtime, task_id: str, step_id: str, generation: int) -> Outcome:
    bind_unit_of_work(task_id=task_id, step_id=step_id, generation=generation)
    cfg = rt.settings.orchestrator
    with rt.db.session() as session:
        claim = step_repo.claim(session, task_id, step_id, generation, rt.owner, cfg.lease_seconds)
        if claim is None:
            return _unclaimed(rt, session, task_id, step_id, generation)
        task = session.get(TaskRow, task_id)
        assert task is not None
        bind_unit_of_work(task_id=task_id, step_id=step_id, arm=claim.arm, tenant=task.tenant,
                          request_id=task.request_id, attempt=claim.attempt)
        if claim.attempt > claim.max_attempts:
            _dead_letter(rt, session, claim, task, reason="exhausted",
                         error=_last_error(session, claim) or ErrorInfo(
                             code="REDELIVERY_LIMIT", category="internal",
                             message=f"step was delivered {claim.attempt} times; its worker died "
                                     f"each time (limit {claim.max_attempts})").model_dump(mode="json"))
            return Outcome("failed", "dead-lettered")
        if claim.step_id == lifecycle.PLAN_STEP_ID and task_repo.move(
            session, task_id, TaskStatus.PLANNING, allowed=("queued",)
        ):
            rt.emit("task.planning", task_id, task.tenant)
        dependencies = _dependencies(session, task_id, claim.depends_on)
        contract = task.contract
        deadline = task.deadline
        tenant = task.tenant
        tokens_left = int(task.max_tokens) - int(task.tokens_used)
        cost_left = float(task.max_cost_usd) - float(task.cost_usd)
    rt.emit("step.started", task_id, tenant, step_id=step_id, arm=claim.arm, attempt=claim.attempt)
    ensure_lease_keeper(rt)
    started = datetime.now(UTC)
    t0 = time.monotonic()
    seconds_left = (deadline - started).total_seconds()
    if seconds_left <= 0:
        return _fail(rt, claim, tenant, BudgetExceeded(
            f"task passed its deadline ({contract['budget']['max_time_seconds']} s budget)"), None)
    limit = min(cfg.step_time_limit_seconds, seconds_left)
    llm = MeteredLLM(llm_for(rt.settings), rt.settings.llm, tokens_left=tokens_left, cost_left=cost_left,
                     check=lambda: _check_cancelled(rt, task_id))
    ctx = ArmContext(
        task_id=task_id,
        step_id=step_id,
        attempt=claim.attempt,
        goal=contract["goal"],
        llm=llm,
        constraints=list(contract.get("constraints", [])),
        acceptance_criteria=list(contract.get("acceptance_criteria", [])),
        dependencies=dependencies,
        deadline=time.monotonic() + limit,
        check_cancelled=lambda: _check_cancelled(rt, task_id),
        services=services_for(claim.arm, rt),
    )
    step_input = {**claim.input}
    step_input.setdefault("action", claim.action)
    try:
        if llm.tokens_left <= 0:
            raise BudgetExceeded(f"token budget exhausted before step {step_id} "
                                 f"({contract['budget']['max_tokens']} tokens)")
        arm = get_arm(claim.arm)
        future = _pool.submit(arm.run, step_input, ctx)
        try:
            result: ArmResult = future.result(timeout=limit)
        except FutureTimeout:
            future.cancel()
            raise StepTimeout(f"step {step_id} exceeded its time limit of {limit:.0f} s") from None
    except Cancelled:
        with rt.db.session() as session:
            step_repo.set_status_if(session, task_id, step_id, StepStatus.CANCELLED, ("running",))
        rt.emit("step.cancelled", task_id, tenant, step_id=step_id)
        return Outcome("noop", "cancelled")
    except TransientError as exc:
        if claim.attempt < claim.max_attempts:
            return _retry(rt, claim, tenant, exc, llm)
        return _fail(rt, claim, tenant, exc, llm, dead_letter="exhausted")
    except OctoError as exc:
        return _fail(rt, claim, tenant, exc, llm)
    except Exception as exc:  # noqa: BLE001 - an arm bug fails its step, with the error stored
        log.exception("arm_crashed", arm=claim.arm)
        return _fail(rt, claim, tenant, exc, llm)
    finished = datetime.now(UTC)
    provenance = ProvenanceMetadata(
        arm=claim.arm, task_id=task_id, step_id=step_id, attempt=claim.attempt,
        started_at=started, finished_at=finished, duration_ms=(time.monotonic() - t0) * 1000,
        tokens=llm.usage, cost_usd=llm.cost, model=result.model or llm.model or None,
        confidence=max(0.0, min(1.0, result.confidence)),
        processing_chain=["orchestrator", claim.arm], worker=rt.owner,
    )
    return _succeed(rt, claim, tenant, result, provenance, llm)


def _unclaimed(rt: Runtime, session: Any, task_id: str, step_id: str, generation: int) -> Outcome:
    """Explain a failed claim: duplicate, stale, cancelled, busy elsewhere, or not ready."""
    view = step_repo.view(session, task_id, step_id)
    if view is None:
        return Outcome("noop", "missing")
    if StepStatus(view.status).terminal:
        return Outcome("noop", "duplicate")
    if view.generation != generation:
        return Outcome("noop", "stale")
    if view.cancel_requested or TaskStatus(view.task_status).terminal:
        step_repo.set_status_if(session, task_id, step_id, StepStatus.CANCELLED
                                if view.cancel_requested else StepStatus.SKIPPED, ("pending", "queued"))
        return Outcome("noop", "task-finished")
    if view.status == "running" and view.seconds_to_lease_expiry is not None:
        # Held by a live lease: a duplicate, or a redelivery after its worker died. Come back
        # when the lease would expire; then either the step finished or we take it over.
        wait = max(0.5, view.seconds_to_lease_expiry + 0.5)
        return Outcome("retry", "busy", countdown=wait)
    if not view.parents_done:
        return Outcome("noop", "not-ready")
    return Outcome("noop", f"unclaimable:{view.status}")


def _dependencies(session: Any, task_id: str, depends_on: list[str]) -> dict[str, dict[str, Any]]:
    outputs = step_repo.outputs(session, task_id, depends_on)
    missing = [d for d in depends_on if d not in outputs]
    if missing:
        rows = session.execute(
            select(StepRow.step_id, StepRow.status, StepRow.error).where(
                (StepRow.task_id == task_id) & (StepRow.step_id.in_(missing))
            )
        ).all()
        for r in rows:
            outputs[r.step_id] = {"_gap": {"status": r.status, "error": r.error}}
    return outputs


def _check_cancelled(rt: Runtime, task_id: str) -> None:
    with rt.db.session() as session:
        flag = session.execute(
            select(TaskRow.cancel_requested).where(TaskRow.id == task_id)
        ).scalar_one_or_none()
    if flag:
        raise Cancelled(f"task {task_id} was cancelled")


def _last_error(session: Any, claim: step_repo.Claim) -> dict[str, Any] | None:
    row = session.get(StepRow, (claim.task_id, claim.step_id))
    return row.error if row is not None else None


_store_retry = retry(
    retry=retry_if_exception_type(StorageUnavailable),
    wait=wait_exponential(multiplier=0.5, max=5),
    stop=stop_after_delay(60),
    reraise=True,
)


@_store_retry
def _succeed(rt: Runtime, claim: step_repo.Claim, tenant: str, result: ArmResult,
             provenance: ProvenanceMetadata, llm: MeteredLLM) -> Outcome:
    outbox_id: int | None = None
    tokens, cost = llm.usage.total_tokens, llm.cost
    with rt.db.session() as session:
        output = result.output
        if claim.step_id == lifecycle.PLAN_STEP_ID and claim.arm == "planner":
            plan = _plan_from(output)
        kept = step_repo.succeed(session, claim, rt.owner, output,
                                 provenance.model_dump(mode="json"), tokens, cost)
        if not kept:
            log.warning("lease_lost", detail="another delivery took the step over; output dropped")
            return Outcome("noop", "lease-lost")
        task_repo.charge(session, claim.task_id, tokens, cost)
        if claim.step_id == lifecycle.PLAN_STEP_ID and claim.arm == "planner":
            task = session.get(TaskRow, claim.task_id)
            assert task is not None
            outbox_id = lifecycle.expand(rt, session, task, plan)
    log.info("step_succeeded", duration_ms=round(provenance.duration_ms, 1), attempt=claim.attempt,
             tokens=tokens, cost_usd=round(cost, 6), output_bytes=len(json.dumps(result.output)),
             output_sha256=hashlib.sha256(json.dumps(result.output, sort_keys=True).encode()).hexdigest()[:16])
    rt.emit("step.succeeded", claim.task_id, tenant, step_id=claim.step_id, arm=claim.arm,
            attempt=claim.attempt, tokens=tokens, duration_ms=round(provenance.duration_ms, 1))
    if outbox_id is not None:
        rt.emit("task.processing", claim.task_id, tenant, steps=len(plan.steps), plan_source=output.get("source"))
        lifecycle._publish_quietly(rt, outbox_id)
    return Outcome("done")


def _plan_from(output: dict[str, Any]) -> Plan:
    raw = output.get("plan", output)
    try:
        return lifecycle.validate_plan(raw)
    except InvalidPlan:
        raise
    except Exception as exc:
        raise InvalidPlan(f"planner returned an unusable plan: {exc}") from exc


def _retry(rt: Runtime, claim: step_repo.Claim, tenant: str, exc: OctoError, llm: MeteredLLM) -> Outcome:
    cfg = rt.settings.orchestrator
    error = ErrorInfo.from_exception(exc).model_dump(mode="json")
    with rt.db.session() as session:
        step_repo.requeue(session, claim, rt.owner, error, llm.usage.total_tokens, llm.cost)
        task_repo.charge(session, claim.task_id, llm.usage.total_tokens, llm.cost)
    countdown = backoff(claim.attempt, cfg.retry_backoff_base_seconds, cfg.retry_backoff_max_seconds, exc.retry_after)
    log.info("step_retrying", attempt=claim.attempt, countdown=round(countdown, 2), error_code=exc.code)
    rt.emit("step.retrying", claim.task_id, tenant, step_id=claim.step_id, attempt=claim.attempt,
            countdown=round(countdown, 2), error=error)
    return Outcome("retry", exc.code, countdown=countdown)


def _fail(rt: Runtime, claim: step_repo.Claim, tenant: str, exc: BaseException, llm: MeteredLLM | None,
          *, dead_letter: str | None = None) -> Outcome:
    error = ErrorInfo.from_exception(exc).model_dump(mode="json")
    tokens = llm.usage.total_tokens if llm else 0
    cost = llm.cost if llm else 0.0
    with rt.db.session() as session:
        task = session.get(TaskRow, claim.task_id)
        assert task is not None
        if not step_repo.fail(session, claim, rt.owner, error, tokens, cost):
            return Outcome("noop", "lease-lost")
        task_repo.charge(session, claim.task_id, tokens, cost)
        if dead_letter:
            _insert_dead_letter(session, claim, task, error, dead_letter)
        if claim.critical:
            lifecycle._close(rt, session, task, TaskStatus.FAILED,
                             error=lifecycle._step_error(claim.step_id, error))
    log.info("step_failed", attempt=claim.attempt, error_code=error["code"], critical=claim.critical,
             dead_lettered=bool(dead_letter))
    rt.emit("step.failed", claim.task_id, tenant, step_id=claim.step_id, arm=claim.arm,
            attempt=claim.attempt, error=error, critical=claim.critical)
    if dead_letter:
        rt.emit("step.dead_lettered", claim.task_id, tenant, step_id=claim.step_id, reason=dead_letter)
    return Outcome("failed", error["code"])


def _dead_letter(rt: Runtime, session: Any, claim: step_repo.Claim, task: TaskRow, *, reason: str,
                 error: dict[str, Any]) -> None:
    step_repo.fail(session, claim, None, error)
    _insert_dead_letter(session, claim, task, error, reason)
    if claim.critical:
        lifecycle._close(rt, session, task, TaskStatus.FAILED, error=lifecycle._step_error(claim.step_id, error))
    log.warning("step_dead_lettered", reason=reason, attempts=claim.attempt)
    rt.emit("step.dead_lettered", claim.task_id, task.tenant, step_id=claim.step_id, reason=reason)


def _insert_dead_letter(session: Any, claim: step_repo.Claim, task: TaskRow, error: dict[str, Any],
                        reason: str) -> None:
    digest = hashlib.sha256(json.dumps(claim.input, sort_keys=True).encode()).hexdigest()
    session.add(DeadLetterRow(
        task_id=claim.task_id, step_id=claim.step_id, arm=claim.arm, tenant=task.tenant,
        error=error, attempts=claim.attempt, reason=reason,
        input_ref={"task_id": claim.task_id, "step_id": claim.step_id,
                   "generation": claim.generation, "input_sha256": digest},
    ))
