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
(``capability_refused``) and appended to ``security_events`` with its kind.

Retries: ``self.retry`` re-sends the same message. After an attempt that failed transiently
(the step is queued again) the adapter asks ``reissue`` for a fresh token: the consumed one
would be refused. A ``busy`` retry keeps its token (see 3.; ``needs_fresh_token``).
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from octollm.contracts.outcome import OutcomeReason
from octollm.contracts.status import StepStatus
from octollm.errors import StorageUnavailable
from octollm.orchestrator.calls.providers import redis_client
from octollm.orchestrator.capability import issuing
from octollm.orchestrator.runtime import Runtime
from octollm.security.capability import Capability, ReplayGuard, TokenRefused, token_id
from octollm.store import security_events
from octollm.store import steps as step_repo
from octollm.store.claims import Claim

log = structlog.get_logger(__name__)


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
    log.warning("capability_refused", kind=exc.kind, arm=arm, jti=jti, reason=exc.message[:300])
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
