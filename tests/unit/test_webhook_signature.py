"""Receivers verify deliveries as Standard Webhooks: ``v1`` HMAC-SHA256 over id.timestamp.body,
freshness, no replays of the signed id, several signatures during a rotation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

import pytest

from octollm.webhooks import MemoryReplayStore, WebhookVerificationError, signed_headers, verify
from octollm.webhooks.signing import is_standard_secret, key_bytes, new_secret, signature

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
OTHER = "whsec_" + base64.b64encode(b"o" * 32).decode()
BODY = b'{"event_type":"task.completed","task_id":"t-1"}'


def headers(now: float | None = None, event_id: str = "evt-1") -> dict[str, str]:
    return signed_headers(
        SECRET, event_id=event_id, event_type="task.completed", body=BODY, now=now
    )


def test_a_genuine_delivery_verifies_and_returns_its_signed_id() -> None:
    assert verify(SECRET, headers(), BODY, replay_store=MemoryReplayStore()) == "evt-1"


def test_the_signature_is_base64_hmac_sha256_over_id_dot_timestamp_dot_body() -> None:
    mac = hmac.new(b"k" * 32, b"evt-1.1700000000." + BODY, hashlib.sha256).digest()
    assert signature(SECRET, "evt-1", "1700000000", BODY) == "v1," + base64.b64encode(mac).decode()


def test_the_headers_are_the_standard_webhooks_ones() -> None:
    sent = headers(now=1_700_000_000)
    assert sent["webhook-id"] == "evt-1"
    assert sent["webhook-timestamp"] == "1700000000"
    assert sent["webhook-signature"].startswith("v1,")
    assert not any(k.lower().startswith("x-") for k in sent), "the old X-* headers are gone"


def test_a_generated_secret_is_whsec_and_32_bytes_of_base64() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert is_standard_secret(secret)
    assert len(key_bytes(secret)) == 32
    assert not is_standard_secret("whsec_not*base64"), "bad base64"
    assert not is_standard_secret("whsec_" + base64.b64encode(b"short").decode()), "too short"
    assert not is_standard_secret("a-plain-password-of-some-length")


def test_a_captured_delivery_replayed_with_a_new_id_is_rejected() -> None:
    """The attack of issue 11: the id used to be an unsigned header the replay check keyed on."""
    store = MemoryReplayStore()
    captured = headers()
    assert verify(SECRET, captured, BODY, replay_store=store) == "evt-1"
    for n in range(3):
        forged = {**captured, "webhook-id": f"evt-fresh-{n}"}
        with pytest.raises(WebhookVerificationError) as err:
            verify(SECRET, forged, BODY, replay_store=store)
        assert err.value.reason == "bad_signature"
    with pytest.raises(WebhookVerificationError) as again:
        verify(SECRET, captured, BODY, replay_store=store)
    assert again.value.reason == "replayed"


def test_a_forged_signature_does_not_burn_the_genuine_id() -> None:
    store = MemoryReplayStore()
    genuine = headers()
    forged = {**genuine, "webhook-signature": "v1," + base64.b64encode(b"x" * 32).decode()}
    with pytest.raises(WebhookVerificationError):
        verify(SECRET, forged, BODY, replay_store=store)
    assert verify(SECRET, genuine, BODY, replay_store=store) == "evt-1"


def test_a_modified_body_is_rejected() -> None:
    with pytest.raises(WebhookVerificationError) as err:
        verify(SECRET, headers(), BODY.replace(b"t-1", b"t-2"), replay_store=MemoryReplayStore())
    assert err.value.reason == "bad_signature"


def test_a_wrong_secret_is_rejected() -> None:
    with pytest.raises(WebhookVerificationError) as err:
        verify(OTHER, headers(), BODY, replay_store=MemoryReplayStore())
    assert err.value.reason == "bad_signature"


def test_any_of_several_space_separated_signatures_verifies_during_a_rotation() -> None:
    both = signed_headers([OTHER, SECRET], event_id="evt-9", event_type="task.completed", body=BODY)
    assert len(both["webhook-signature"].split(" ")) == 2
    assert verify(SECRET, both, BODY, replay_store=MemoryReplayStore()) == "evt-9"
    assert verify(OTHER, both, BODY, replay_store=MemoryReplayStore()) == "evt-9"
    unknown = "v2,abc v1,!!notbase64 " + both["webhook-signature"].split(" ")[1]
    assert verify(SECRET, {**both, "webhook-signature": unknown}, BODY,
                  replay_store=MemoryReplayStore()) == "evt-9"  # fmt: skip


def test_a_str_body_verifies_like_its_utf8_bytes() -> None:
    assert verify(SECRET, headers(), BODY.decode(), replay_store=MemoryReplayStore()) == "evt-1"


@pytest.mark.parametrize(
    ("secret", "body", "sent"),
    [
        (SECRET, 12345, None),
        (SECRET, None, None),
        ("whsec_***", BODY, None),
        (12345, BODY, None),
        (SECRET, BODY, {"webhook-id": "a", "webhook-timestamp": "x", "webhook-signature": "v1,"}),
        (SECRET, BODY, {"webhook-id": 1, "webhook-timestamp": 2, "webhook-signature": 3}),
        (SECRET, BODY, "not a mapping"),
    ],
)
def test_bad_inputs_raise_only_the_verification_error(secret: Any, body: Any, sent: Any) -> None:
    with pytest.raises(WebhookVerificationError):
        verify(secret, headers() if sent is None else sent, body, replay_store=MemoryReplayStore())


def test_a_legacy_plain_secret_still_signs_and_verifies() -> None:
    legacy = "s3cret-s3cret-s3cret"
    sent = signed_headers(legacy, event_id="evt-2", event_type="t.x", body=BODY)
    assert verify(legacy, sent, BODY, replay_store=MemoryReplayStore()) == "evt-2"


def test_a_timestamp_older_than_the_tolerance_is_rejected() -> None:
    old = time.time() - 301
    with pytest.raises(WebhookVerificationError) as err:
        verify(SECRET, headers(now=old), BODY, tolerance=300, replay_store=MemoryReplayStore())
    assert err.value.reason == "stale_timestamp"


def test_a_timestamp_from_the_future_beyond_the_tolerance_is_rejected() -> None:
    with pytest.raises(WebhookVerificationError, match="away from now"):
        verify(SECRET, headers(now=time.time() + 600), BODY, replay_store=MemoryReplayStore())


def test_a_replayed_delivery_is_rejected() -> None:
    store = MemoryReplayStore()
    sent = headers()
    verify(SECRET, sent, BODY, replay_store=store)
    with pytest.raises(WebhookVerificationError) as err:
        verify(SECRET, sent, BODY, replay_store=store)
    assert err.value.reason == "replayed"


def test_a_tampered_timestamp_breaks_the_signature() -> None:
    sent = headers()
    sent["webhook-timestamp"] = str(int(sent["webhook-timestamp"]) + 1)
    with pytest.raises(WebhookVerificationError, match="signature"):
        verify(SECRET, sent, BODY, replay_store=MemoryReplayStore())


def test_missing_headers_are_rejected_and_names_are_case_insensitive() -> None:
    titled = {k.title(): v for k, v in headers().items()}
    assert verify(SECRET, titled, BODY, replay_store=MemoryReplayStore()) == "evt-1"
    del titled["Webhook-Signature"]
    with pytest.raises(WebhookVerificationError, match="webhook-signature"):
        verify(SECRET, titled, BODY, replay_store=MemoryReplayStore())


def test_the_replay_memory_is_bounded() -> None:
    store = MemoryReplayStore(max_entries=2)
    for event_id in ("a", "b", "c"):
        assert store.first_seen(event_id, 60)
    assert store.first_seen("a", 60), "the oldest id was evicted"
    assert not store.first_seen("c", 60)
