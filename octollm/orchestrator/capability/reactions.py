"""Capability tokens for event reactions (``octollm.event.react``), issued and admitted.

A reaction makes a worker act (load a step's stored output, run an arm, publish its result),
so its message carries a token like a step's, in the ``octollm_capability`` header::

    dispatcher (trusted: reads the durable stream)     reacting worker (the subscribed arm)
    task row  -> tenant (the event's own must match)   verify token: signature, aud = arm,
    token aud=<arm>, sub=<task>/react:<sub>:<event>,   sub = this task and event, scope
      gen 0, scope event:react,                        event:react; constraints: the task
      constraints {tenant, subscription,               row's tenant and the sha256 of the
                   event_sha256}                       event body as received
    octollm.event.react(subscription, event)           -> only then load, run, publish

The **tenant comes from the task row**, never from the event body: the dispatcher refuses an
event whose ``tenant`` is not its task's (``tenant_mismatch``, nothing delivered, nothing
enqueued), and the reaction uses the row's tenant for everything it does. A message without
a token, with another task's or tenant's token, or with an event body changed after the token
was issued (``tampered``) is refused and recorded in ``security_events``; nothing is loaded or
published. A token is not single-use: the reaction is idempotent by its event id (bound into
the token's subject), so a Celery retry carries the same token.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from octollm.config import Settings
from octollm.contracts.event import Event
from octollm.memory.cache import stable_key
from octollm.orchestrator.calls import tenancy
from octollm.orchestrator.capability import admission, issuing
from octollm.orchestrator.runtime import Runtime
from octollm.security.capability import Capability, TokenRefused
from octollm.store import security_events

log = structlog.get_logger(__name__)

SCOPE = "event:react"


def reaction_step(subscription: str, event_id: str) -> str:
    """The token subject's step part for one reaction to one event."""
    return f"react:{subscription}:{event_id}"


def event_digest(event_body: Mapping[str, Any]) -> str:
    """sha256 of the event body's canonical JSON, as the message carries it."""
    return stable_key(dict(event_body))


def issue(
    settings: Settings, *, arm: str, subscription: str, event_body: Mapping[str, Any], tenant: str
) -> str:
    """The token for one reaction message (the dispatcher, after checking the task row)."""
    cfg = settings.capability
    ttl = max(cfg.min_ttl_seconds, cfg.max_ttl_seconds)
    return issuing.authority(settings).issue(
        arm=arm,
        task_id=str(event_body["task_id"]),
        step_id=reaction_step(subscription, str(event_body["event_id"])),
        generation=0,
        expires_at=time.time() + ttl,
        scopes=(SCOPE, f"arm:{arm}"),
        constraints={
            "tenant": tenant,
            "subscription": subscription,
            "event_sha256": event_digest(event_body),
        },
    )


@dataclass(frozen=True)
class Admitted:
    capability: Capability
    tenant: str  # the task row's


def admit(
    rt: Runtime,
    token: str | None,
    *,
    arm: str,
    subscription: str,
    event_body: Mapping[str, Any],
    message_id: str | None = None,
) -> Admitted | TokenRefused:
    """Verify a reaction message against its task row before anything is loaded; a refusal
    is recorded (``security_events``) and returned."""
    task_id = str(event_body.get("task_id") or "")
    step = reaction_step(subscription, str(event_body.get("event_id") or ""))
    try:
        if not task_id:
            raise TokenRefused("no_task", "a reaction must name the task its event belongs to")
        capability = issuing.authority(rt.settings).verify(
            token, audience=arm, task_id=task_id, step_id=step, generation=0
        )
        if not capability.allows(SCOPE):
            raise TokenRefused("wrong_scope", f"the token does not grant {SCOPE}")
        if capability.constraints.get("event_sha256") != event_digest(event_body):
            raise TokenRefused("tampered", "the event differs from the one the token was for")
        if capability.constraints.get("subscription") != subscription:
            raise TokenRefused("tampered", "the token is for another subscription")
        tenant = tenancy.task_tenant(rt, task_id)
        if tenant is None:
            raise TokenRefused("unknown_task", f"there is no task {task_id}")
        if capability.constraints.get("tenant") != tenant:
            raise TokenRefused("wrong_tenant", "the token was issued for another tenant")
    except TokenRefused as exc:
        admission.refuse(rt, exc, token, task_id, step[:64], 0, arm, message_id)
        return exc
    return Admitted(capability, tenant)


def check_event_tenant(rt: Runtime, event: Event) -> str | None:
    """The task row's tenant of an event read from the durable stream, when it names a task;
    an event whose ``tenant`` is not its task's is recorded and refused (``TokenRefused``)."""
    tenant = tenancy.task_tenant(rt, event.task_id)
    if tenant is None or tenant == event.tenant:
        return tenant
    log.warning("event_tenant_mismatch", event_id=event.event_id, event_type=event.event_type)
    with rt.db.autocommit() as conn:
        security_events.record(
            conn,
            kind="tenant_mismatch",
            task_id=event.task_id,
            worker=rt.owner,
            details={
                "event_id": event.event_id[:100],
                "event_type": event.event_type,
                "claimed_tenant": event.tenant[:100],
            },
        )
    raise TokenRefused("tenant_mismatch", "the event's tenant is not its task's")


__all__ = [
    "SCOPE",
    "Admitted",
    "admit",
    "check_event_tenant",
    "event_digest",
    "issue",
    "reaction_step",
]
