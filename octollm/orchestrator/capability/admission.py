"""Admitting a step delivery: its capability token is checked before the step is claimed.

Order, for one message ``(task_id, step_id, generation)`` carrying token ``T``:

1. Read the step row (arm, status, lease). No row: nothing to guard, the claim will say
   ``missing``. A **finished** step: a late duplicate can run nothing, whatever its token, so
   it is a no-op and not a security event (a redelivery after a lost ack looks like this).
2. Verify ``T``: signature (HS256 only), issuer, expiry, **audience = the row's arm**, and
   subject/generation = this message. Any failure -> refused.
3. Replay: a ``jti`` is consumed by the **claim** it authorised (``consume``, after the claim,
   ``SET NX`` with the token's remaining lifetime as TTL). A consumed token is refused as
   ``replayed`` when the step is ``queued`` again: the attempt it authorised is over, and the
   step's next delivery carries a token of its own. While the step is ``running`` the message
   is let through to the claim, which is the real guard: under a live lease it is ``busy``
   and comes back, **with the same token**, when the lease would expire; by then the step has
   finished (a no-op) or its worker died and the redelivery takes it over — the legitimate
   redelivery of a message whose worker was killed (``acks_late``, a requeue by the prefork
   parent) looks exactly like this, and must not be refused.

A refused message does not touch the step: it stays ``queued`` (an attacker's message cannot
fail a legitimate step) and, if no valid message comes, the reconciler's stall detection
re-drives it under a new generation with fresh issuing. Each refusal is logged
(``capability_refused``, one line; an ``unknown_key`` one names the fix) and appended to
``security_events`` with its kind. A refusal that means the fleet's keys disagree
(``unknown_key``: the worker lacks the publisher's key id) is also published on the task's
event stream as ``step.refused``: the task does not fail (a forged message could then fail
it), but it does not hang silently either — its events (SSE, WebSocket, webhooks) say why,
until the keys are fixed (the next re-drive runs) or its deadline fails it.

Retries: ``self.retry`` re-sends the same message. After an attempt that failed transiently
(the step is queued again) the adapter asks ``reissue`` for a fresh token: the consumed one
would be refused. A ``busy`` retry keeps its token (see 3.; ``needs_fresh_token``).

An arm worker that holds only public keys cannot mint that token: it hands the retry to the
orchestrator pool instead (``delegate_retry``: an ``octollm.step.redeliver`` message carrying
the consumed token as its proof), whose ``redeliver`` checks the token against the step row
(its arm, step and generation; the step queued again), lets one redelivery through per token
(``<jti>:retry`` in the replay guard), and publishes the step with a fresh token after the
retry's countdown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import structlog

from octollm.contracts.event import EventType
from octollm.contracts.outcome import OutcomeReason
from octollm.contracts.status import StepStatus
from octollm.errors import StorageUnavailable
from octollm.orchestrator.broker import queues
from octollm.orchestrator.calls import tenancy
from octollm.orchestrator.calls.providers import redis_client
from octollm.orchestrator.capability import issuing
from octollm.orchestrator.runtime import Runtime
from octollm.security.capability import (
    TOKEN_HEADER,
    Capability,
    ReplayGuard,
    TokenRefused,
    token_id,
)
from octollm.store import security_events
from octollm.store import steps as step_repo
from octollm.store.claims import Claim

log = structlog.get_logger(__name__)

#: The orchestrator-pool task that re-publishes a verify-only worker's retry.
REDELIVER_TASK = "octollm.step.redeliver"
STEP_TASK = "octollm.step.run"


@dataclass(frozen=True)
class Admission:
    """``refused`` (a kind) or ``duplicate``, else admitted with its ``capability`` (None when
    tokens are not required and the message had none)."""

    capability: Capability | None = None
    refused: str | None = None
    duplicate: bool = False

    @property
    def admitted(self) -> bool:
        return self.refused is None and not self.duplicate


def replay_guard(rt: Runtime) -> ReplayGuard:
    return ReplayGuard(redis_client(rt.settings.redis_url()))


def admit(
    rt: Runtime,
    token: str | None,
    task_id: str,
    step_id: str,
    generation: int,
    *,
    message_id: str | None = None,
) -> Admission:
    with rt.db.autocommit() as conn:
        row = step_repo.grant_fact(conn, task_id, step_id)
    if row is None:
        return Admission()
    if StepStatus(row.status).terminal:
        return Admission(duplicate=True)
    if token is None and not rt.settings.capability.required:
        log.warning("capability_token_missing_tolerated", arm=row.arm)
        return Admission()
    try:
        capability = issuing.authority(rt.settings).verify(
            token, audience=row.arm, task_id=task_id, step_id=step_id, generation=generation
        )
        holder = replay_guard(rt).consumed_by(capability.jti)
        if holder is not None and row.status == StepStatus.QUEUED.value:
            raise TokenRefused(
                "replayed",
                f"the capability token was already used (by {holder}) and the step is {row.status}",
                consumed_by=holder,
            )
    except TokenRefused as exc:
        refuse(rt, exc, token, task_id, step_id, generation, row.arm, message_id)
        return Admission(refused=exc.kind)
    return Admission(capability)


def consume(rt: Runtime, admission: Admission, claim: Claim) -> None:
    """Mark the admitted token used by ``claim`` (after the claim succeeded)."""
    cap = admission.capability
    if cap is None:
        return
    holder = f"{rt.owner}#{claim.attempt}"
    try:
        if not replay_guard(rt).consume(cap.jti, holder, max(1.0, cap.seconds_left())):
            log.info("capability_token_reused_for_takeover", attempt=claim.attempt)
    except StorageUnavailable as exc:  # the claim is the guard; the record is defence in depth
        log.warning("capability_use_not_recorded", error=exc.message[:200])


@dataclass
class TokenUse:
    """``consume``'s record as a piggyback (``events.bus.Piggyback``): sent in the round trip of
    the step's ``step.started`` event, or on its own (``run``) when the step ends before it."""

    rt: Runtime
    admission: Admission
    claim: Claim
    sent: bool = field(default=False)

    def queue(self, pipe: Any) -> None:
        cap = self.admission.capability
        assert cap is not None
        self.sent = True
        holder = f"{self.rt.owner}#{self.claim.attempt}"
        ttl = max(1, int(max(1.0, cap.seconds_left())) + 1)
        pipe.set(ReplayGuard.key(cap.jti), holder, nx=True, ex=ttl)

    def run(self) -> None:
        if not self.sent:
            self.sent = True
            consume(self.rt, self.admission, self.claim)


def token_use(rt: Runtime, admission: Admission, claim: Claim) -> TokenUse | None:
    """The admitted token's use record, to send with the step's start (None: no token)."""
    return TokenUse(rt, admission, claim) if admission.capability is not None else None


def refuse(
    rt: Runtime,
    exc: TokenRefused,
    token: str | None,
    task_id: str,
    step_id: str,
    generation: int,
    arm: str | None,
    message_id: str | None,
) -> None:
    jti = token_id(token)
    log.warning("capability_refused", kind=exc.kind, arm=arm, jti=jti, reason=exc.message[:400])
    with rt.db.autocommit() as conn:
        security_events.record(
            conn,
            kind=exc.kind,
            task_id=task_id,
            step_id=step_id,
            generation=generation,
            arm=arm,
            jti=jti,
            message_id=message_id,
            worker=rt.owner,
            details={"message": exc.message[:1000], **_details(exc)},
        )
    if exc.kind in KEY_MISMATCH:
        _surface(rt, exc, task_id, step_id, generation, arm)


#: Refusals that mean the fleet's keys disagree (not an attack on one step): the task's own
#: event stream hears of them (``step.refused``), so its owner sees why it is not moving.
KEY_MISMATCH = frozenset({"unknown_key"})


def _surface(
    rt: Runtime, exc: TokenRefused, task_id: str, step_id: str, generation: int, arm: str | None
) -> None:
    tenant = tenancy.task_tenant(rt, task_id)
    if tenant is None:
        return
    try:
        rt.emit(
            EventType.STEP_REFUSED,
            task_id,
            tenant,
            step_id=step_id,
            generation=generation,
            arm=arm,
            kind=exc.kind,
            worker=rt.owner,
            reason=exc.message[:600],
        )
    except Exception:  # noqa: BLE001 - the security event row is the record
        log.warning("step_refused_event_not_published", step_id=step_id)


def _details(exc: TokenRefused) -> dict[str, object]:
    return {k: v for k, v in exc.details.items() if k != "kind" and isinstance(v, str | int)}


def needs_fresh_token(kind: str, reason: OutcomeReason) -> bool:
    """Whether a retried delivery needs a new token: yes after an attempt (its claim consumed
    the token), no when the claim found the step busy (the token may authorise a takeover)."""
    return kind == "retry" and reason is not OutcomeReason.BUSY


def reissue(rt: Runtime, task_id: str, step_id: str, generation: int) -> str | None:
    """A fresh token for the next delivery of a step (before ``self.retry``)."""
    with rt.db.autocommit() as conn:
        row = step_repo.grant_fact(conn, task_id, step_id)
    if row is None:
        return None
    return issuing.reissue(
        rt.settings,
        arm=row.arm,
        task_id=task_id,
        step_id=step_id,
        generation=generation,
        step_input=dict(row.input or {}),
        deadline=row.deadline,
    )


def can_issue(rt: Runtime) -> bool:
    return issuing.authority(rt.settings).can_issue


def delegate_retry(
    rt: Runtime, token: str | None, task_id: str, step_id: str, generation: int, countdown: float
) -> None:
    """Hand a retry to the orchestrator pool (this worker holds only public keys)."""
    settings = rt.settings
    rt.app.send_task(
        REDELIVER_TASK,
        args=(task_id, step_id, int(generation), float(countdown)),
        headers={TOKEN_HEADER: token} if token else None,
        ignore_result=True,
        **queues.route(
            settings.queue_prefix, queues.CONTROL_ARM, "high", settings.require_broker_url()
        ),
    )


def redeliver(
    rt: Runtime,
    token: str | None,
    task_id: str,
    step_id: str,
    generation: int,
    countdown: float,
    *,
    message_id: str | None = None,
) -> str:
    """Publish a delegated retry with a fresh token; returns ``redelivered``, ``stale`` (the
    step moved on: nothing to do) or ``refused:<kind>``."""
    with rt.db.autocommit() as conn:
        row = step_repo.redelivery_fact(conn, task_id, step_id)
    if (
        row is None
        or row.status != StepStatus.QUEUED.value
        or int(row.generation) != int(generation)
    ):
        return "stale"
    try:
        capability = issuing.authority(rt.settings).verify(
            token, audience=row.arm, task_id=task_id, step_id=step_id, generation=generation
        )
        guard = replay_guard(rt)
        if guard.consumed_by(capability.jti) is None:
            raise TokenRefused("unused", "a retry needs a token an attempt has used")
        if not guard.consume(f"{capability.jti}:retry", rt.owner, capability.seconds_left()):
            raise TokenRefused("replayed", "this token's retry was already redelivered")
    except TokenRefused as exc:
        refuse(rt, exc, token, task_id, step_id, generation, row.arm, message_id)
        return f"refused:{exc.kind}"
    fresh = reissue(rt, task_id, step_id, generation)
    settings = rt.settings
    rt.app.send_task(
        STEP_TASK,
        args=(task_id, step_id, int(generation)),
        headers={TOKEN_HEADER: fresh},
        countdown=max(0.0, float(countdown)),
        ignore_result=True,
        **queues.route(settings.queue_prefix, row.arm, row.priority, settings.require_broker_url()),
    )
    return "redelivered"
