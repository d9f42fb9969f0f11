"""Interoperability with the reference ``standardwebhooks`` package (PyPI), both ways: it
verifies octollm's signed headers, and octollm's ``verify`` accepts its signatures."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError as TheirError

from octollm.webhooks import MemoryReplayStore, WebhookVerificationError, verify
from octollm.webhooks.signing import new_secret, signed_headers

BODY = b'{"event_type":"task.completed","task_id":"task-1","data":{"answer":"\\u00e9t\\u00e9"}}'


def test_the_standardwebhooks_package_verifies_octollms_deliveries() -> None:
    secret = new_secret()
    headers = signed_headers(
        secret, event_id="evt-interop-1", event_type="task.completed", body=BODY
    )
    payload = Webhook(secret).verify(BODY, headers)
    assert payload["task_id"] == "task-1"
    with pytest.raises(TheirError):
        Webhook(new_secret()).verify(BODY, headers)
    with pytest.raises(TheirError):
        Webhook(secret).verify(BODY, {**headers, "webhook-id": "evt-other"})


def test_the_standardwebhooks_package_accepts_either_signature_during_a_rotation() -> None:
    old, new = new_secret(), new_secret()
    headers = signed_headers([new, old], event_id="evt-rot", event_type="t.x", body=BODY)
    assert Webhook(old).verify(BODY, headers)["task_id"] == "task-1"
    assert Webhook(new).verify(BODY, headers)["task_id"] == "task-1"


def test_octollms_verify_accepts_signatures_made_by_the_standardwebhooks_package() -> None:
    secret = new_secret()
    now = datetime.now(UTC)
    signature = Webhook(secret).sign("msg_2Kf1", now, BODY.decode())
    headers = {
        "webhook-id": "msg_2Kf1",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }
    assert verify(secret, headers, BODY, replay_store=MemoryReplayStore()) == "msg_2Kf1"
    assert verify(secret, headers, BODY.decode(), replay_store=MemoryReplayStore()) == "msg_2Kf1"
    with pytest.raises(WebhookVerificationError):
        verify(new_secret(), headers, BODY, replay_store=MemoryReplayStore())
