"""Verifying a delivery on the receiver's side.

``verify(secret, headers, body)`` checks, in order: the headers are present, the timestamp is
within ``tolerance`` seconds of now (either direction), the signature matches (constant-time
compare), and the event id was not accepted before (replay memory kept for the tolerance
window plus margin). Any failure raises ``WebhookVerificationError`` with a ``reason``.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Mapping

from octollm.errors import Unauthorized
from octollm.webhooks.replay import MemoryReplayStore, ReplayStore
from octollm.webhooks.signing import signature

_default_store = MemoryReplayStore()


class WebhookVerificationError(Unauthorized):
    code = "WEBHOOK_SIGNATURE_INVALID"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message, details={"reason": reason})
        self.reason = reason


def _header(headers: Mapping[str, str], name: str) -> str:
    lowered = {k.lower(): v for k, v in headers.items()}
    value = lowered.get(name.lower())
    if not value:
        raise WebhookVerificationError("missing_header", f"the {name} header is missing")
    return value


def verify(
    secret: str | bytes,
    headers: Mapping[str, str],
    body: bytes,
    tolerance: float = 300,
    *,
    replay_store: ReplayStore | None = None,
    now: float | None = None,
) -> str:
    """Check one delivery; returns its event id. Raises ``WebhookVerificationError``."""
    timestamp = _header(headers, "X-Timestamp")
    sent = _header(headers, "X-Signature")
    event_id = _header(headers, "X-Event-ID")
    try:
        stamp = int(timestamp)
    except ValueError:
        raise WebhookVerificationError("bad_timestamp", "X-Timestamp is not Unix seconds") from None
    current = time.time() if now is None else now
    if abs(current - stamp) > tolerance:
        raise WebhookVerificationError(
            "stale_timestamp",
            f"timestamp is {current - stamp:.0f} s away from now (tolerance {tolerance:.0f} s)",
        )
    expected = signature(secret, timestamp, body)
    if not hmac.compare_digest(expected.encode(), sent.strip().encode()):
        raise WebhookVerificationError("bad_signature", "signature does not match the body")
    store = replay_store if replay_store is not None else _default_store
    if not store.first_seen(event_id, ttl_seconds=2 * tolerance + 60):
        raise WebhookVerificationError("replayed", f"event {event_id} was already accepted")
    return event_id
