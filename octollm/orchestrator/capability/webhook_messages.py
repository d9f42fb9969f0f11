"""Webhook delivery messages carry a capability token, as step messages do.

A message ``octollm.webhook.deliver(delivery_id)`` makes a worker open an endpoint's secret and
POST a stored body to a stored URL; anyone who can publish to the broker could otherwise make
it send any tenant's deliveries. So every publisher (``enqueue``: the event dispatcher, a
redelivery, a retry) puts a token in the ``octollm_capability`` header::

    aud  "webhooks"                           sub  "<tenant>/webhook-delivery-<id>"
    gen  the delivery's redelivery count      exp  24 h after publication (+ a retry's delay)
    scope ["webhook:deliver"]

and the worker verifies it against the **delivery row** (its tenant, its redelivery count)
before anything is loaded or sent (``admit``). No token, a forged or tampered one, another
delivery's or another tenant's: refused, logged (``capability_refused``) and recorded in
``security_events`` with ``arm = "webhooks"``; the delivery row is not touched, so an
attacker's message cannot fail a real delivery. A redelivery raises the generation, so the
tokens of a delivery's earlier life are worth nothing for its next one.

The lifetime is longer than a step token's: a delivery message may wait in a backlog or in a
retry countdown (up to ``webhooks.backoff_max_seconds``) and a refused, expired message would
leave its delivery pending. Replaying a valid message is harmless: the delivery's claim lets
one attempt through, and a finished delivery is a no-op.
"""

from __future__ import annotations

import time
from typing import Any

import structlog

from octollm.config import Settings
from octollm.orchestrator.broker import queues
from octollm.orchestrator.capability import issuing
from octollm.orchestrator.runtime import Runtime
from octollm.security.capability import TOKEN_HEADER, TokenRefused, token_id
from octollm.store import security_events
from octollm.store import webhooks as webhook_repo
from octollm.store.db import Database
from octollm.webhooks import registry
from octollm.webhooks.registry import DELIVER_TASK, WEBHOOKS_QUEUE_ARM, Delivery

log = structlog.get_logger(__name__)

AUDIENCE = "webhooks"
SCOPE = "webhook:deliver"
TOKEN_LIFETIME_SECONDS = 24 * 3600.0


def subject(delivery_id: int) -> str:
    return f"webhook-delivery-{int(delivery_id)}"


def issue(
    settings: Settings, tenant: str, delivery_id: int, generation: int, *, delay: float = 0.0
) -> str:
    """A token for one message of ``delivery_id`` (generation = its redelivery count)."""
    now = time.time()
    return issuing.authority(settings).issue(
        arm=AUDIENCE,
        task_id=tenant,
        step_id=subject(delivery_id),
        generation=generation,
        expires_at=now + delay + TOKEN_LIFETIME_SECONDS,
        scopes=(SCOPE,),
        now=now,
    )


def enqueue(
    settings: Settings, app: Any, tenant: str, delivery_id: int, generation: int = 0
) -> None:
    """Publish one delivery message, with its token, on the webhooks queue."""
    app.send_task(
        DELIVER_TASK,
        args=[int(delivery_id)],
        headers={TOKEN_HEADER: issue(settings, tenant, delivery_id, generation)},
        **queues.route(
            settings.queue_prefix, WEBHOOKS_QUEUE_ARM, "high", settings.require_broker_url()
        ),
    )


def redeliver(
    db: Database, tenant: str, delivery_id: int, *, app: Any, settings: Settings
) -> Delivery:
    """Reopen a dead (or delivered) delivery and enqueue it with a token of its new generation."""
    delivery = registry.reopen(
        db, tenant, delivery_id, extra_attempts=settings.webhooks.max_attempts
    )
    enqueue(settings, app, tenant, delivery.id, delivery.redeliveries)
    return delivery


def admit(
    rt: Runtime, token: str | None, delivery_id: int, *, message_id: str | None = None
) -> str | None:
    """None when the message may go on to ``delivery.deliver``; else the refusal's kind.

    A message for a delivery that does not exist is let through: the claim finds nothing.
    """
    with rt.db.autocommit() as conn:
        row = webhook_repo.token_facts(conn, delivery_id)
    if row is None:
        return None
    if token is None and not rt.settings.capability.required:
        log.warning("capability_token_missing_tolerated", arm=AUDIENCE)
        return None
    try:
        issuing.authority(rt.settings).verify(
            token,
            audience=AUDIENCE,
            task_id=row.tenant,
            step_id=subject(delivery_id),
            generation=int(row.redeliveries),
        )
    except TokenRefused as exc:
        _refuse(rt, exc, token, int(delivery_id), row, message_id)
        return exc.kind
    return None


def reissue(rt: Runtime, delivery_id: int, *, delay: float) -> str | None:
    """A fresh token for a retry that waits ``delay`` seconds in the broker."""
    with rt.db.autocommit() as conn:
        row = webhook_repo.token_facts(conn, delivery_id)
    if row is None:
        return None
    return issue(rt.settings, row.tenant, delivery_id, int(row.redeliveries), delay=delay)


def _refuse(
    rt: Runtime,
    exc: TokenRefused,
    token: str | None,
    delivery_id: int,
    row: Any,
    message_id: str | None,
) -> None:
    jti = token_id(token)
    log.warning(
        "capability_refused",
        kind=exc.kind,
        arm=AUDIENCE,
        delivery_id=delivery_id,
        jti=jti,
        reason=exc.message[:300],
    )
    with rt.db.autocommit() as conn:
        security_events.record(
            conn,
            kind=exc.kind,
            task_id=row.task_id,
            step_id=subject(delivery_id),
            generation=int(row.redeliveries),
            arm=AUDIENCE,
            jti=jti,
            message_id=message_id,
            worker=rt.owner,
            details={
                "message": exc.message[:1000],
                "delivery_id": delivery_id,
                "tenant": row.tenant,
            },
        )
