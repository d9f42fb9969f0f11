"""Webhook delivery messages carry a capability token: on a real webhooks worker, a forged
message (no token, a token signed with another key, another tenant's token, a tampered one)
is refused and recorded in ``security_events``, and nothing is sent; a genuine one is sent.

Deliveries are created with ``fan_out`` (no dispatcher runs), so the only messages on the
webhooks queue are the ones each test publishes itself, as an attacker with broker access
would.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from octollm.contracts.event import Event
from octollm.orchestrator.broker import queues
from octollm.orchestrator.capability import webhook_messages
from octollm.security.capability import TOKEN_HEADER
from octollm.store.security_events import SecurityEventRow
from octollm.webhooks import DELIVER_TASK, MemoryReplayStore, deliveries, fan_out, register, verify
from octollm.webhooks.signing import new_secret
from tests.support.stack import LiveStack, live_stack, make_runtime, wait_until
from tests.support.webhook_receiver import WebhookReceiver, webhook_receiver


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with webhook_receiver() as r:
        yield r


@pytest.fixture
def stack(tmp_path: Path, receiver: WebhookReceiver) -> Iterator[LiveStack]:
    env = {"OCTOLLM_WEBHOOKS__ALLOWLIST": json.dumps([receiver.host_port])}
    with live_stack(tmp_path, **env) as s:
        yield s


def settings_of(stack: LiveStack, receiver: WebhookReceiver) -> Any:
    from octollm.config.observability import WebhookSettings

    return stack.settings().model_copy(
        update={"webhooks": WebhookSettings(allowlist=[receiver.host_port])}
    )


def pending_delivery(rt: Any, settings: Any, tenant: str, url: str, secret: str) -> int:
    register(rt.db, tenant, url, ["task.completed"], secret, settings=settings)
    event = Event(event_type="task.completed", task_id=f"task-of-{tenant}", tenant=tenant)
    [delivery_id] = fan_out(rt.db, event, max_attempts=3)
    return int(delivery_id)


def publish(stack: LiveStack, rt: Any, delivery_id: int, token: str | None) -> None:
    rt.app.send_task(
        DELIVER_TASK,
        args=[delivery_id],
        headers={TOKEN_HEADER: token} if token is not None else None,
        ignore_result=True,
        **queues.route(stack.prefix, "webhooks", "high", stack.redis_url),
    )


def refusals(rt: Any) -> list[SecurityEventRow]:
    with rt.db.session() as session:
        rows = session.scalars(
            select(SecurityEventRow)
            .where(SecurityEventRow.arm == "webhooks")
            .order_by(SecurityEventRow.id)
        ).all()
        session.expunge_all()
        return list(rows)


def test_forged_webhook_delivery_messages_are_refused_recorded_and_send_nothing(
    stack: LiveStack, receiver: WebhookReceiver
) -> None:
    rt = make_runtime(stack)
    settings = settings_of(stack, receiver)
    victim = pending_delivery(rt, settings, "tenant-a", receiver.url, new_secret())
    own = pending_delivery(rt, settings, "tenant-b", receiver.url + "/b", new_secret())
    b_token = webhook_messages.issue(settings, "tenant-b", own, 0)
    header, payload, sig = b_token.split(".")
    claims = json.loads(jwt.utils.base64url_decode(payload))
    retargeted = jwt.utils.base64url_encode(
        json.dumps({**claims, "sub": f"tenant-a/webhook-delivery-{victim}"}).encode()
    ).decode()
    forged = jwt.encode(  # an attacker's own Ed25519 key, under the fleet's key id
        {**claims, "sub": f"tenant-a/webhook-delivery-{victim}"},
        Ed25519PrivateKey.generate(),
        algorithm="EdDSA",
        headers={"kid": jwt.get_unverified_header(b_token)["kid"]},
    )
    attempts = {
        "missing": None,
        "bad_signature": forged,
        "wrong_subject": b_token,  # tenant b's genuine token, on tenant a's delivery
        "tampered": f"{header}.{retargeted}.{sig}",
        "malformed": "not-a-jwt",
    }
    worker = stack.start_worker(["webhooks"], concurrency=2)
    for token in attempts.values():
        publish(stack, rt, victim, token)

    found = wait_until(lambda: len(refusals(rt)) >= len(attempts) and refusals(rt), timeout=30)
    kinds = sorted(r.kind for r in found)
    assert kinds == sorted(["missing", "bad_signature", "wrong_subject", "bad_signature",
                            "malformed"]), kinds  # fmt: skip
    assert {r.step_id for r in found} == {f"webhook-delivery-{victim}"}
    assert {r.task_id for r in found} == {"task-of-tenant-a"}
    assert all(r.details["tenant"] == "tenant-a" for r in found)
    time.sleep(1.0)  # nothing may arrive late
    assert receiver.requests == [], "a refused message must send nothing"
    [row] = deliveries(rt.db, "tenant-a")
    assert (row.status, row.attempts) == ("pending", 0), "the delivery row is untouched"

    # The genuine message still goes through: the refusals did not spoil the delivery.
    webhook_messages.enqueue(settings, rt.app, "tenant-a", victim, 0)
    wait_until(lambda: receiver.successes(), what="the genuine delivery", timeout=30)
    wait_until(
        lambda: [d.status for d in deliveries(rt.db, "tenant-a")] == ["succeeded"],
        what="the delivery recorded as succeeded",
    )
    assert len(receiver.requests) == 1
    assert "capability_refused" in worker.log()
    rt.db.dispose()


def test_a_redelivery_raises_the_generation_so_an_old_token_is_refused(
    stack: LiveStack, receiver: WebhookReceiver
) -> None:
    rt = make_runtime(stack)
    settings = settings_of(stack, receiver)
    secret = new_secret()
    delivery = pending_delivery(rt, settings, "tenant-a", receiver.url, secret)
    old = webhook_messages.issue(settings, "tenant-a", delivery, 0)
    stack.start_worker(["webhooks"], concurrency=1)
    publish(stack, rt, delivery, old)
    wait_until(
        lambda: [d.status for d in deliveries(rt.db, "tenant-a")] == ["succeeded"],
        what="the first delivery",
    )
    ok = receiver.successes()[0]
    assert verify(secret, ok.headers, ok.body, replay_store=MemoryReplayStore())

    webhook_messages.redeliver(rt.db, "tenant-a", delivery, app=rt.app, settings=settings)
    wait_until(lambda: len(receiver.successes()) == 2, what="the redelivery")
    publish(stack, rt, delivery, old)  # the first life's token, replayed
    [refused] = wait_until(lambda: refusals(rt), what="the refusal")
    assert refused.kind == "wrong_subject"
    assert refused.generation == 1
    assert len(receiver.requests) == 2
    rt.db.dispose()
