"""Answering an arm-to-arm call (``octollm.arm.call``, on the callee's queue): the callee's
half of ``arm_call``.

The message's token must be for this arm (audience), this call (subject
``<task>/<step>#call-<call_id>``, generation), grant ``arm:call``, name the hand-off key the
message carries, and be unused: its ``jti`` is consumed before the arm runs, so a redelivered or
copied call message is refused (``replayed``). Then the **task row** is read: the task must
exist and its tenant must be the one the token was issued for (``wrong_tenant``); that row's
tenant, never the message, scopes what follows. Every refusal is recorded as a security event
like a refused step message, and nothing is loaded. The input comes from the hand-off key in
the row tenant's namespace; the arm runs with the task's metered LLM, the callee's
collaborators bound to that tenant and the call's capability, within the time the caller
waits; the answer (output, or the error as
``ErrorInfo``) goes to the caller's reply key. Nothing is stored in Postgres: the call is part
of the caller's step, whose output records what came of it.
"""

from __future__ import annotations

import time
from typing import Any

import structlog

from octollm.arms import boundary
from octollm.arms.base import ArmContext
from octollm.arms.registry import get_arm
from octollm.errors import InvalidInput, OctoError
from octollm.orchestrator.calls import tenancy
from octollm.orchestrator.calls.budget import TaskLedger
from octollm.orchestrator.calls.caller import call_subject, error_reply, handoff_for, send_reply
from octollm.orchestrator.calls.collaborators import services_for
from octollm.orchestrator.calls.metering import MeteredLLM, llm_for
from octollm.orchestrator.capability import admission, issuing
from octollm.orchestrator.runtime import Runtime
from octollm.security.capability import TokenRefused

log = structlog.get_logger(__name__)


def answer(
    rt: Runtime,
    token: str | None,
    call_id: str,
    arm: str,
    key: str,
    task_id: str,
    step_id: str,
    generation: int,
    *,
    message_id: str | None = None,
) -> str:
    """Run the call and reply; returns ``answered``, ``failed`` or ``refused:<kind>``."""
    subject = call_subject(step_id, call_id)
    tenant: str | None = None
    try:
        capability = issuing.authority(rt.settings).verify(
            token, audience=arm, task_id=task_id, step_id=subject, generation=generation
        )
        if not capability.allows("arm:call"):
            raise TokenRefused("wrong_scope", "the token does not grant arm:call")
        if capability.constraints.get("handoff") != key:
            raise TokenRefused("tampered", "the call names another hand-off than its token")
        tenant = tenancy.task_tenant(rt, task_id)
        if tenant is None:
            raise TokenRefused("unknown_task", f"there is no task {task_id}")
        if capability.constraints.get("tenant") != tenant:
            raise TokenRefused("wrong_tenant", "the token was issued for another tenant")
        guard = admission.replay_guard(rt)
        if not guard.consume(capability.jti, f"{rt.owner}#call", capability.seconds_left()):
            raise TokenRefused("replayed", "the arm call's token was already used")
    except TokenRefused as exc:
        admission.refuse(rt, exc, token, task_id, subject[:64], generation, arm, message_id)
        if tenant is not None and exc.kind != "wrong_tenant":
            send_reply(rt, tenant, call_id, error_reply(exc))
        return f"refused:{exc.kind}"
    started = time.monotonic()
    try:
        payload = handoff_for(rt, tenant).get(key)
        if not isinstance(payload, dict):
            raise InvalidInput(f"the hand-off {key} holds no input (expired?)")
        llm = MeteredLLM(llm_for(rt.settings), rt.settings.llm, TaskLedger(rt.db, task_id))
        ctx = ArmContext(
            task_id=task_id,
            step_id=subject,
            attempt=1,
            goal="",
            llm=llm,
            deadline=time.monotonic() + max(1.0, capability.seconds_left() - 30),
            services=tenancy.bind(services_for(arm, rt), tenant, capability),
        )
        result = boundary.call(get_arm(arm), payload, ctx)
    except OctoError as exc:
        send_reply(rt, tenant, call_id, error_reply(exc))
        log.info("arm_call_failed", arm=arm, call_id=call_id, error_code=exc.code)
        return "failed"
    except Exception as exc:
        log.exception("arm_call_crashed", arm=arm, call_id=call_id)
        send_reply(rt, tenant, call_id, error_reply(exc))
        return "failed"
    body: dict[str, Any] = {
        "ok": True,
        "output": result.output,
        "confidence": result.confidence,
        "tokens": llm.usage.total_tokens,
    }
    send_reply(rt, tenant, call_id, body)
    log.info(
        "arm_call_served",
        arm=arm,
        call_id=call_id,
        duration_ms=round((time.monotonic() - started) * 1000, 1),
    )
    return "answered"
