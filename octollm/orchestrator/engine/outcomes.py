"""Recording what a step attempt came to: success, a retry, or failure (maybe a dead letter).

Each outcome is one transaction guarded by the attempt's lease (owner and attempt number): if
another delivery took the step over meanwhile, the record is refused and the result dropped.
A database outage while recording is waited out (``orchestrator.outcome_record_seconds``, with
backoff); an outcome still unrecorded then goes to the journal (``recovery/journal.py``) and
the next claim of the step records it, so a finished step is not lost or run again.

Every event carries the task's ``request_id``. A succeeded ``coder`` step also announces
``code.generated`` (ids and the language only; subscribers load the code from Postgres), which
the default subscription hands to the judge.

An arm result with ``requires_replanning`` is stored with ``requires_replanning: true`` and the
``replan_reason`` in its output, then handed to ``replanning.request``; a succeeded replan step
(``replan.<n>``) adds its plan's steps the way the plan step does (``replanning.extend``).
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from dataclasses import dataclass
from typing import Any, Literal

import structlog
from tenacity import RetryCallState, retry, retry_if_exception_type, wait_exponential

from octollm.arms.base import ArmResult
from octollm.contracts.arm import ErrorInfo, ProvenanceMetadata
from octollm.contracts.event import EventType
from octollm.contracts.outcome import OutcomeReason
from octollm.contracts.plan import PLAN_STEP_ID, Plan
from octollm.contracts.status import StepStatus, TaskStatus
from octollm.errors import InvalidPlan, OctoError, StorageUnavailable
from octollm.events.bus import Piggyback
from octollm.orchestrator.answering import replanning
from octollm.orchestrator.calls.metering import MeteredLLM
from octollm.orchestrator.engine import dispatch, lifecycle
from octollm.orchestrator.recovery import deadletters
from octollm.orchestrator.runtime import Runtime
from octollm.store import claims
from octollm.store import steps as step_repo
from octollm.store import tasks as task_repo

log = structlog.get_logger(__name__)

CODER_ARM = "coder"


@dataclass(frozen=True)
class Outcome:
    """What the Celery adapter should do: ``retry`` re-publishes after ``countdown``; every
    other kind returns normally so the canvas keeps moving. ``reason`` says why; ``code``
    qualifies it (the error code, the refusal kind, the unclaimable status)."""

    kind: Literal["done", "noop", "retry", "failed"]
    reason: OutcomeReason = OutcomeReason.RECORDED
    countdown: float = 0.0
    code: str = ""

    @property
    def detail(self) -> str:
        """The outcome as the task's Celery result shows it (``refused:expired``, an error
        code, ``stale``...)."""
        if self.reason is OutcomeReason.RECORDED:
            return ""
        if self.reason is OutcomeReason.ERROR:
            return self.code
        return f"{self.reason.value}:{self.code}" if self.code else self.reason.value


def backoff(attempt: int, base: float, cap: float, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter in [0.5, 1.5) x, never below ``retry_after``."""
    delay = min(cap, base * 2 ** max(0, attempt - 1)) * random.uniform(0.5, 1.5)  # noqa: S311
    return float(max(delay, retry_after or 0.0))


def _past_recording_window(state: RetryCallState) -> bool:
    """Stop after ``orchestrator.outcome_record_seconds`` (the decorated functions take the
    runtime first); the runner then journals a success (``orchestrator/journal.py``)."""
    rt = state.args[0] if state.args else state.kwargs.get("rt")
    window = rt.settings.orchestrator.outcome_record_seconds if rt is not None else 60.0
    return bool(state.seconds_since_start is not None and state.seconds_since_start >= window)


_storage_retry = retry(
    retry=retry_if_exception_type(StorageUnavailable),
    wait=wait_exponential(multiplier=0.5, max=5),
    stop=_past_recording_window,
    reraise=True,
)


def _elapsed_ms(started: float | None) -> float:
    return round((time.monotonic() - started) * 1000, 1) if started is not None else 0.0


def _usage(llm: MeteredLLM | None) -> tuple[int, float]:
    return (llm.usage.total_tokens, llm.cost) if llm else (0, 0.0)


@_storage_retry
def succeed(
    rt: Runtime,
    claim: claims.Claim,
    tenant: str,
    result: ArmResult[dict[str, Any]],
    provenance: ProvenanceMetadata,
    llm: MeteredLLM | None,
    *,
    also: Piggyback | None = None,
) -> Outcome:
    """Record the output; ``also``: Redis writes to send with the ``step.succeeded`` event."""
    outbox: dispatch.Outbox | None = None
    tokens, cost = _usage(llm)
    is_replan = replanning.is_replan_step(claim.step_id, claim.arm)
    is_plan = is_replan or (claim.step_id == PLAN_STEP_ID and claim.arm == "planner")
    try:
        plan = _plan_from(result.output) if is_plan else None
    except InvalidPlan as exc:  # the planner's output is unusable: the plan step fails
        return fail(rt, claim, tenant, exc, llm)
    output = result.output
    if result.requires_replanning:
        reason = result.replan_reason or f"the {claim.arm} arm asked for replanning"
        output = {**output, "requires_replanning": True, "replan_reason": reason}
    record = (claim, rt.owner, output, provenance.model_dump(mode="json"), tokens, cost)
    if plan is None:  # the common case: one statement, committed on its own
        with rt.db.autocommit() as conn:
            unfinished = step_repo.succeed(conn, *record)
    else:  # the plan step also inserts the plan's steps and their canvas: one transaction
        with rt.db.session() as session:
            unfinished = step_repo.succeed(session, *record)
            if unfinished is not None:
                task = task_repo.get(session, claim.task_id)
                assert task is not None
                if is_replan:
                    outbox = replanning.extend(session, task, plan, claim.step_id)
                else:
                    outbox = lifecycle.expand(session, task, plan)
    if unfinished is None:
        log.warning("lease_lost", detail="another delivery took the step over; output dropped")
        return Outcome("noop", OutcomeReason.LEASE_LOST)
    encoded = json.dumps(result.output, sort_keys=True).encode()
    log.info(
        "step_succeeded",
        duration_ms=round(provenance.duration_ms, 1),
        attempt=claim.attempt,
        tokens=tokens,
        cost_usd=round(cost, 6),
        output_bytes=len(encoded),
        output_sha256=hashlib.sha256(encoded).hexdigest()[:16],
    )
    rt.emit(
        EventType.STEP_SUCCEEDED,
        claim.task_id,
        tenant,
        also=also,
        request_id=claim.request_id,
        step_id=claim.step_id,
        arm=claim.arm,
        attempt=claim.attempt,
        tokens=tokens,
        cost_usd=round(cost, 6),
        model=provenance.model or result.model or (llm.model if llm is not None else None) or None,
        duration_ms=round(provenance.duration_ms, 1),
    )
    _announce_code(rt, claim, tenant, result.output)
    if result.requires_replanning and plan is None:
        replan = replanning.request(rt, claim, str(output["replan_reason"]))
        if replan is not None:  # the rest of the plan was replaced: the replan step goes on
            lifecycle.publish_quietly(rt, replan)
            return Outcome("done")
    if plan is not None:
        rt.emit(
            EventType.TASK_PROCESSING,
            claim.task_id,
            tenant,
            request_id=claim.request_id,
            steps=len(plan.steps),
            plan_source=plan.source,
        )
        lifecycle.publish_quietly(rt, outbox)
    elif unfinished == 0:
        # The task's last step: close it now rather than one message later. The canvas's
        # finalize message still comes and finds the task closed (it also covers the case of
        # parallel last steps, each of which saw the other still running).
        try:
            lifecycle.finalize(rt, claim.task_id, claim.generation)
        except StorageUnavailable as exc:  # the output is stored; the finalize message will do
            log.warning("inline_finalize_deferred", error=exc.message)
    return Outcome("done")


def _announce_code(rt: Runtime, claim: claims.Claim, tenant: str, output: dict[str, Any]) -> None:
    """``code.generated`` after a coder step that produced code: ids and language only."""
    code = output.get("code")
    if claim.arm != CODER_ARM or not isinstance(code, str) or not code.strip():
        return
    rt.emit(
        EventType.CODE_GENERATED,
        claim.task_id,
        tenant,
        request_id=claim.request_id,
        source=CODER_ARM,
        step_id=claim.step_id,
        language=str(output.get("language") or "python"),
    )


def _plan_from(output: dict[str, Any]) -> Plan:
    raw = output.get("plan", output)
    try:
        return lifecycle.validate_plan(raw)
    except InvalidPlan:
        raise
    except Exception as exc:
        raise InvalidPlan(
            "the planner returned an unusable plan", details={"error": str(exc)[:2000]}
        ) from exc


@_storage_retry
def retry_later(
    rt: Runtime,
    claim: claims.Claim,
    tenant: str,
    exc: OctoError,
    llm: MeteredLLM | None,
    *,
    started: float | None = None,
) -> Outcome:
    cfg = rt.settings.orchestrator
    error = ErrorInfo.from_exception(exc).model_dump(mode="json")
    countdown = backoff(
        claim.attempt,
        cfg.retry_backoff_base_seconds,
        cfg.retry_backoff_max_seconds,
        exc.retry_after,
    )
    tokens, cost = _usage(llm)
    with rt.db.session() as session:
        if not step_repo.requeue(session, claim, rt.owner, error, tokens, cost, delay=countdown):
            return Outcome("noop", OutcomeReason.LEASE_LOST)
    log.info(
        "step_retrying",
        attempt=claim.attempt,
        duration_ms=_elapsed_ms(started),
        tokens=tokens,
        countdown=round(countdown, 2),
        error_code=exc.code,
    )
    rt.emit(
        EventType.STEP_RETRYING,
        claim.task_id,
        tenant,
        request_id=claim.request_id,
        step_id=claim.step_id,
        attempt=claim.attempt,
        countdown=round(countdown, 2),
        error=error,
    )
    return Outcome("retry", OutcomeReason.ERROR, countdown=countdown, code=exc.code)


@_storage_retry
def fail(
    rt: Runtime,
    claim: claims.Claim,
    tenant: str,
    exc: BaseException | ErrorInfo,
    llm: MeteredLLM | None,
    *,
    dead_letter: str | None = None,
    started: float | None = None,
) -> Outcome:
    """Fail the step (``started``: ``time.monotonic()`` when the attempt began); ``exc`` may
    be an already-recorded ``ErrorInfo`` (a failure kept in the journal)."""
    info = exc if isinstance(exc, ErrorInfo) else ErrorInfo.from_exception(exc)
    error = info.model_dump(mode="json")
    tokens, cost = _usage(llm)
    with rt.db.session() as session:
        if not step_repo.fail(session, claim, rt.owner, error, tokens, cost):
            return Outcome("noop", OutcomeReason.LEASE_LOST)
        rt.emit(
            EventType.STEP_FAILED,
            claim.task_id,
            tenant,
            session=session,
            request_id=claim.request_id,
            step_id=claim.step_id,
            arm=claim.arm,
            attempt=claim.attempt,
            error=error,
            critical=claim.critical,
        )
        if dead_letter:
            deadletters.record(session, claim, tenant, error, dead_letter)
            rt.emit(
                EventType.STEP_DEAD_LETTERED,
                claim.task_id,
                tenant,
                session=session,
                request_id=claim.request_id,
                step_id=claim.step_id,
                arm=claim.arm,
                reason=dead_letter,
            )
        if claim.critical:
            task = task_repo.get(session, claim.task_id)
            assert task is not None
            lifecycle.close(
                rt,
                session,
                task,
                TaskStatus.FAILED,
                error=lifecycle.step_error(claim.step_id, error),
            )
    log.info(
        "step_failed",
        attempt=claim.attempt,
        duration_ms=_elapsed_ms(started),
        tokens=tokens,
        cost_usd=round(cost, 6),
        error_code=error["code"],
        critical=claim.critical,
        dead_lettered=bool(dead_letter),
    )
    return Outcome("failed", OutcomeReason.ERROR, code=error["code"])


@_storage_retry
def cancelled(rt: Runtime, claim: claims.Claim, tenant: str) -> Outcome:
    with rt.db.session() as session:
        step_repo.set_status_if(
            session, claim.task_id, claim.step_id, StepStatus.CANCELLED, ("running",)
        )
    rt.emit(
        EventType.STEP_CANCELLED,
        claim.task_id,
        tenant,
        request_id=claim.request_id,
        step_id=claim.step_id,
    )
    return Outcome("noop", OutcomeReason.CANCELLED)
