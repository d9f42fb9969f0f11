"""Receivers verify deliveries: signature over timestamp + body, freshness, no replays."""

from __future__ import annotations

import time

import pytest

from octollm.webhooks import MemoryReplayStore, WebhookVerificationError, signed_headers, verify
from octollm.webhooks.signing import signature

SECRET = "s3cret-s3cret-s3cret"
BODY = b'{"event_type":"task.completed","task_id":"t-1"}'


def headers(now: float | None = None, event_id: str = "evt-1") -> dict[str, str]:
    return signed_headers(
        SECRET, event_id=event_id, event_type="task.completed", body=BODY, now=now
    )


def test_a_genuine_delivery_verifies_and_returns_its_event_id() -> None:
    assert verify(SECRET, headers(), BODY, replay_store=MemoryReplayStore()) == "evt-1"


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    import hashlib
    import hmac

    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert signature(SECRET, "1700000000", BODY) == f"sha256={expected}"


def test_a_modified_body_is_rejected() -> None:
    with pytest.raises(WebhookVerificationError) as err:
        verify(SECRET, headers(), BODY.replace(b"t-1", b"t-2"), replay_store=MemoryReplayStore())
    assert err.value.reason == "bad_signature"


def test_a_wrong_secret_is_rejected() -> None:
    with pytest.raises(WebhookVerificationError) as err:
        verify("another-secret-entirely", headers(), BODY, replay_store=MemoryReplayStore())
    assert err.value.reason == "bad_signature"


def test_a_timestamp_older_than_the_tolerance_is_rejected() -> None:
    old = time.time() - 301
    with pytest.raises(WebhookVerificationError) as err:
        verify(SECRET, headers(now=old), BODY, tolerance=300, replay_store=MemoryReplayStore())
    assert err.value.reason == "stale_timestamp"


def test_a_timestamp_from_the_future_beyond_the_tolerance_is_rejected() -> None:
    with pytest.raises(WebhookVerificationError, match="away from now"):
        verify(SECRET, headers(now=time.time() + 600), BODY, replay_store=MemoryReplayStore())


def test_a_replayed_event_id_is_rejected() -> None:
    store = MemoryReplayStore()
    sent = headers()
    verify(SECRET, sent, BODY, replay_store=store)
    with pytest.raises(WebhookVerificationError) as err:
        verify(SECRET, sent, BODY, replay_store=store)
    assert err.value.reason == "replayed"


def test_a_tampered_timestamp_breaks_the_signature() -> None:
    sent = headers()
    sent["X-Timestamp"] = str(int(sent["X-Timestamp"]) + 1)
    with pytest.raises(WebhookVerificationError, match="signature"):
        verify(SECRET, sent, BODY, replay_store=MemoryReplayStore())


def test_missing_headers_are_rejected_and_names_are_case_insensitive() -> None:
    lowered = {k.lower(): v for k, v in headers().items()}
    assert verify(SECRET, lowered, BODY, replay_store=MemoryReplayStore()) == "evt-1"
    del lowered["x-signature"]
    with pytest.raises(WebhookVerificationError, match="X-Signature"):
        verify(SECRET, lowered, BODY, replay_store=MemoryReplayStore())


def test_the_replay_memory_is_bounded() -> None:
    store = MemoryReplayStore(max_entries=2)
    for event_id in ("a", "b", "c"):
        assert store.first_seen(event_id, 60)
    assert store.first_seen("a", 60), "the oldest id was evicted"
    assert not store.first_seen("c", 60)
