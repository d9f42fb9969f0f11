"""Run one step delivery: claim, load dependencies, run the arm within limits, record.

The Celery task around this is a thin adapter; everything here is callable without a broker.

0. **Admit** the delivery (``admission``): its capability token must be valid for this step
   and its arm, and unused (or used by the claim this delivery takes over); a refused message
   is recorded as a security event and does nothing else.
1. **Claim** the step row (``store.claims``): only a queued step (or one whose lease expired) of
   this generation, with attempts left, of a live task, whose dependencies finished. The claim
   counts the attempt and takes a lease that this process renews while this attempt runs
   (``lease.held``), and no longer. A failed
   claim is explained: a duplicate or stale delivery does nothing, a step running elsewhere is
   retried when its lease would expire, an exhausted step goes to the dead-letter store. A
   *suspect* (it was in a process that died with other steps in it) runs alone in this
   process (``isolation``), so a death it causes is attributable to it.
2. **Run** the arm in a worker thread with the step's time limit (enforced here, so it holds on
   thread and gevent pools, which have no Celery time limits), an LLM metered against the
   task's budget, and a cancellation check that also stops the step when its task has ended.
   The step's input is validated into the arm's input model first and its output against the
   arm's output model after (``arms.boundary``): either failing is a non-retryable step
   failure (``InvalidInput`` / ``InvalidOutput``) whose ``details`` list the errors.
3. **Record** the outcome (``outcomes``): output upserted; transient errors requeued with
   backoff until the last attempt, then dead-lettered; other errors fail the step at once. A
   success, failure or retry decision that cannot be recorded within
   ``outcome_record_seconds`` (Postgres away) goes to the journal; a later claim (attempt > 1)
   records it instead of running the arm again (a retry: reports it, then runs the arm;
   ``replay``).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from redis.exceptions import RedisError

from octollm.arms import boundary
from octollm.arms.base import Arm, ArmContext, ArmResult, step_idempotency_key
from octollm.arms.registry import get_arm
from octollm.contracts.arm import ProvenanceMetadata
from octollm.contracts.event import EventType
from octollm.contracts.outcome import OutcomeReason
from octollm.contracts.plan import PLAN_STEP_ID
from octollm.contracts.status import UNCLAIMED_STEP_STATUSES, StepStatus, TaskStatus
from octollm.errors import (
    BudgetExceeded,
    Cancelled,
    OctoError,
    StepTimeout,
    StorageUnavailable,
    TransientError,
)
from octollm.llm import idempotency as llm_idempotency
from octollm.logging import bind_unit_of_work
from octollm.orchestrator.broker import fleet
from octollm.orchestrator.calls import tenancy
from octollm.orchestrator.calls.budget import TaskLedger
from octollm.orchestrator.calls.collaborators import services_for
from octollm.orchestrator.calls.metering import MeteredLLM, llm_for
from octollm.orchestrator.capability import admission as admissions
from octollm.orchestrator.capability import security_events
from octollm.orchestrator.engine import outcomes, replay, swarm
from octollm.orchestrator.engine.outcomes import Outcome, backoff
from octollm.orchestrator.recovery import deadletters, isolation, journal, lease
from octollm.orchestrator.registry import directory as arm_directory
from octollm.orchestrator.runtime import Runtime
from octollm.store import claims
from octollm.store import steps as step_repo
from octollm.store import tasks as task_repo

__all__ = ["Outcome", "backoff", "run_step"]

log = structlog.get_logger(__name__)

_pool = ThreadPoolExecutor(max_workers=64, thread_name_prefix="octollm-arm")


def run_step(
    rt: Runtime,
    task_id: str,
    step_id: str,
    generation: int,
    token: str | None = None,
    *,
    message_id: str | None = None,
) -> Outcome:
    """Run one delivery of a step; ``token`` is the message's capability token."""
    bind_unit_of_work(task_id=task_id, step_id=step_id, generation=generation)
    cfg = rt.settings.orchestrator
    admission = admissions.admit(rt, token, task_id, step_id, generation, message_id=message_id)
    if admission.duplicate:
        return Outcome("noop", OutcomeReason.DUPLICATE)
    if admission.refused is not None:
        return Outcome("noop", OutcomeReason.REFUSED, code=admission.refused)
    with isolation.gate.shared():  # no claim while a suspect runs alone in this process
        with rt.db.autocommit() as conn:  # one statement: the claim, the task, the inputs
            claim = claims.claim(conn, task_id, step_id, generation, rt.owner, cfg.lease_seconds)
        if claim is None:
            with rt.db.session() as session:
                return _unclaimed(rt, session, task_id, step_id, generation)
        # The token's use record goes out with the step's start event (one Redis round trip).
        use = admissions.token_use(rt, admission, claim)
        counter = _SuccessCount(rt, claim.arm)
        try:
            with lease.held(rt, task_id, step_id, claim.attempt):  # renewed while it runs
                if use is not None and claim.attempt > 1:
                    use.run()
                outcome = replay.recorded_from_journal(rt, claim) if claim.attempt > 1 else None
                if outcome is None and claim.suspect:
                    log.info("suspect_running_alone", attempt=claim.attempt)
                    with isolation.gate.alone():
                        outcome = _run_claimed(rt, claim, admission.capability, use, counter)
                elif outcome is None:
                    outcome = _run_claimed(rt, claim, admission.capability, use, counter)
        finally:
            if use is not None:
                use.run()  # the step ended before its start event (no-op once sent)
    if not counter.sent:
        _record_health(rt, claim.arm, outcome)
    return outcome


@dataclass
class _SuccessCount:
    """The arm's success counter as a piggyback on the ``step.succeeded`` event."""

    rt: Runtime
    arm: str
    sent: bool = False

    def queue(self, pipe: Any) -> None:
        directory = arm_directory.directory_for(self.rt.settings)
        if directory is not None:
            directory.queue_outcome(pipe, self.arm, True)
        self.sent = True

    def run(self) -> None:
        self.sent = True
        _record_health(self.rt, self.arm, Outcome("done"))


def _record_health(rt: Runtime, arm: str, outcome: Outcome) -> None:
    """Count the attempt in the arm's recent success rate (best effort)."""
    if outcome.kind not in ("done", "failed", "retry"):
        return
    directory = arm_directory.directory_for(rt.settings)
    if directory is None:
        return
    try:
        directory.record_outcome(arm, outcome.kind == "done")
    except RedisError as exc:
        log.warning("arm_outcome_not_recorded", error=str(exc)[:200])


def _run_claimed(
    rt: Runtime,
    claim: claims.Claim,
    capability: Any,
    use: admissions.TokenUse | None = None,
    counter: _SuccessCount | None = None,
) -> Outcome:
    task_id, step_id = claim.task_id, claim.step_id
    cfg = rt.settings.orchestrator
    bind_unit_of_work(
        task_id=task_id,
        step_id=step_id,
        arm=claim.arm,
        tenant=claim.tenant,
        request_id=claim.request_id,
        attempt=claim.attempt,
    )
    contract, deadline, tenant = claim.contract, claim.deadline, claim.tenant
    assert deadline is not None
    aggregator = swarm.is_aggregator(claim.input)
    dependencies: dict[str, dict[str, Any]] = dict(claim.outputs)
    if aggregator or len(dependencies) < len(claim.depends_on) or claim.step_id == PLAN_STEP_ID:
        with rt.db.session() as session:
            if claim.step_id == PLAN_STEP_ID and task_repo.move(
                session, task_id, TaskStatus.PLANNING, allowed=("queued",)
            ):
                rt.emit(EventType.TASK_PLANNING, task_id, tenant, session=session)
            if aggregator:
                dependencies = _proposals(session, task_id, claim.depends_on)
            else:
                dependencies = _dependencies(session, task_id, claim.depends_on, dependencies)
    rt.emit(
        EventType.STEP_STARTED,
        task_id,
        tenant,
        also=use if use is not None and not use.sent else None,
        step_id=step_id,
        arm=claim.arm,
        attempt=claim.attempt,
    )
    started = datetime.now(UTC)
    t0 = time.monotonic()
    seconds_left = (deadline - started).total_seconds()
    if seconds_left <= 0:
        budget = contract["budget"]["max_time_seconds"]
        late = BudgetExceeded(
            f"task passed its deadline ({budget} s budget)", details={"max_time_seconds": budget}
        )
        return outcomes.fail(rt, claim, tenant, late, None, started=t0)
    step_limit = fleet.step_time_limit(rt.app.conf, cfg.step_time_limit_seconds)  # pool's limit
    limit = min(step_limit, seconds_left)

    def check() -> None:
        _check_cancelled(rt, task_id)

    llm = MeteredLLM(llm_for(rt.settings), rt.settings.llm, TaskLedger(rt.db, task_id), check=check)
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
        check_cancelled=check,
        services=tenancy.bind(services_for(claim.arm, rt), tenant, capability),
        idempotency_key=step_idempotency_key(task_id, step_id),
        screening=dict((contract.get("metadata") or {}).get("screening") or {}),
    )
    step_input = {**claim.input}
    step_input.setdefault("action", claim.action)
    try:
        arm: Arm[Any, Any] = swarm.SwarmAggregator(_judge()) if aggregator else get_arm(claim.arm)
        request = boundary.parse_input(arm, step_input)  # InvalidInput: fails, never retried
        if getattr(arm, "enforces_own_limits", False):
            produced = _keyed_run(arm, request, ctx)
        else:
            produced = _run_bounded(arm, request, ctx, limit, step_limit, contract, step_id)
        result = boundary.encode_output(arm, produced)  # InvalidOutput: fails, never retried
    except Cancelled:
        return outcomes.cancelled(rt, claim, tenant)
    except TransientError as exc:
        if claim.attempt < claim.max_attempts:
            with replay.journalled_on_outage(rt, claim, journal.RETRY, exc):
                return outcomes.retry_later(rt, claim, tenant, exc, llm, started=t0)
        with replay.journalled_on_outage(rt, claim, journal.FAILED, exc, dead_letter="exhausted"):
            return outcomes.fail(rt, claim, tenant, exc, llm, dead_letter="exhausted", started=t0)
    except OctoError as exc:
        security_events.record(rt, claim, error=exc)
        with replay.journalled_on_outage(rt, claim, journal.FAILED, exc):
            return outcomes.fail(rt, claim, tenant, exc, llm, started=t0)
    except Exception as exc:
        log.exception("arm_crashed", arm=claim.arm)
        with replay.journalled_on_outage(rt, claim, journal.FAILED, exc):
            return outcomes.fail(rt, claim, tenant, exc, llm, started=t0)
    security_events.record(rt, claim, output=result.output)
    provenance = ProvenanceMetadata(
        arm=claim.arm,
        task_id=task_id,
        step_id=step_id,
        attempt=claim.attempt,
        started_at=started,
        finished_at=datetime.now(UTC),
        duration_ms=(time.monotonic() - t0) * 1000,
        tokens=llm.usage,
        cost_usd=llm.cost,
        model=result.model or llm.model or None,
        confidence=max(0.0, min(1.0, result.confidence)),
        processing_chain=["orchestrator", claim.arm],
        worker=rt.owner,
    )
    try:
        return outcomes.succeed(rt, claim, tenant, result, provenance, llm, also=counter)
    except StorageUnavailable:
        # Postgres stayed away for the whole recording window: keep the finished work in the
        # journal for the next claim of this step, and let this attempt's lease lapse.
        entry = journal.Entry(
            attempt=claim.attempt,
            output=result.output,
            provenance=provenance.model_dump(mode="json"),
            confidence=result.confidence,
            model=result.model,
        )
        journal.keep(rt, task_id, step_id, entry)
        raise


def _judge() -> Arm[Any, Any] | None:
    try:
        return get_arm("judge")
    except OctoError:
        return None


def _unclaimed(rt: Runtime, session: Any, task_id: str, step_id: str, generation: int) -> Outcome:
    """Explain a failed claim: duplicate, stale, cancelled, exhausted, busy, or not ready."""
    view = claims.view(session, task_id, step_id)
    if view is None:
        return Outcome("noop", OutcomeReason.MISSING)
    if StepStatus(view.status).terminal:
        return Outcome("noop", OutcomeReason.DUPLICATE)
    if view.generation != generation:
        return Outcome("noop", OutcomeReason.STALE)
    if view.cancel_requested or TaskStatus(view.task_status).terminal:
        settled = StepStatus.CANCELLED if view.cancel_requested else StepStatus.SKIPPED
        step_repo.set_status_if(session, task_id, step_id, settled, UNCLAIMED_STEP_STATUSES)
        return Outcome("noop", OutcomeReason.TASK_FINISHED)
    running_elsewhere = view.status == "running" and not view.lease_expired
    if view.attempts >= view.max_attempts and not running_elsewhere:
        # The last attempt finished but could not record (Postgres was away): record it now.
        recorded = replay.adopt_journalled(rt, task_id, step_id, view.attempts)
        if recorded is not None:
            return recorded
        # Its worker died on the last attempt (a poison step): dead-letter, never loop.
        if deadletters.exhaust(rt, session, task_id, step_id):
            return Outcome("failed", OutcomeReason.DEAD_LETTERED)
        return Outcome("noop", OutcomeReason.EXHAUSTED)
    if running_elsewhere and view.seconds_to_lease_expiry is not None:
        # Held by a live lease: a duplicate, or a redelivery after its worker died. Come back
        # when the lease would expire; then either the step finished or we take it over.
        wait = max(0.5, view.seconds_to_lease_expiry + 0.5)
        return Outcome("retry", OutcomeReason.BUSY, countdown=wait)
    if not view.parents_done:
        return Outcome("noop", OutcomeReason.NOT_READY)
    return Outcome("noop", OutcomeReason.UNCLAIMABLE, code=view.status)


def _dependencies(
    session: Any, task_id: str, depends_on: list[str], outputs: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Complete ``outputs`` with a ``{"_gap": ...}`` for each dependency that has none (a
    failed optional step)."""
    outputs = dict(outputs)
    missing = [d for d in depends_on if d not in outputs]
    for step_id, gap in step_repo.gaps(session, task_id, missing).items():
        outputs[step_id] = {"_gap": gap}
    return outputs


def _proposals(session: Any, task_id: str, variants: list[str]) -> dict[str, dict[str, Any]]:
    """A swarm aggregator's view of its variants: output and confidence, or the gap."""
    found = step_repo.results(session, task_id, variants)
    gaps = _dependencies(session, task_id, [v for v in variants if v not in found], {})
    proposals: dict[str, dict[str, Any]] = {
        v: {"output": out, "confidence": float(prov.get("confidence", 1.0))}
        for v, (out, prov) in found.items()
    }
    return {**proposals, **gaps}


def _check_cancelled(rt: Runtime, task_id: str) -> None:
    """Raise ``Cancelled`` when the task was cancelled or has ended (failed, past deadline).

    While the database is unreachable the check passes: the flag is persistent, so the next
    check after recovery sees it, and an outage must not fail the work in progress."""
    try:
        with rt.db.session() as session:
            state = task_repo.cancel_state(session, task_id)
    except StorageUnavailable:
        return
    if state is None or state[0]:
        raise Cancelled("the task was cancelled", details={"task_id": task_id})
    if TaskStatus(state[1]).terminal:
        raise Cancelled(
            f"the task is already {state[1]}", details={"task_id": task_id, "status": state[1]}
        )


def _keyed_run(arm: Arm[Any, Any], request: Any, ctx: ArmContext) -> ArmResult[Any]:
    """Run the arm with its LLM calls keyed by the step (``llm/idempotency.py``)."""
    with llm_idempotency.scope(ctx.idempotency_key):
        return arm.run(request, ctx)


def _run_bounded(
    arm: Arm[Any, Any],
    request: Any,
    ctx: ArmContext,
    limit: float,
    step_limit: float,
    contract: dict[str, Any],
    step_id: str,
) -> ArmResult[Any]:
    """Run the arm in a helper thread and stop waiting at ``limit`` (every pool kind)."""
    future = _pool.submit(_keyed_run, arm, request, ctx)
    try:
        return future.result(timeout=limit)
    except FutureTimeout:
        future.cancel()
        if limit < step_limit:  # the task's deadline, not the step's limit
            budget = contract["budget"]["max_time_seconds"]
            raise BudgetExceeded(
                f"the task reached its deadline while the step ran ({budget} s budget)",
                details={"step_id": step_id, "max_time_seconds": budget},
            ) from None
        raise StepTimeout(
            f"the step exceeded its time limit of {limit:.0f} s",
            details={"step_id": step_id, "limit_seconds": round(limit, 3)},
        ) from None
