"""Verifying a delivery on the receiver's side (Standard Webhooks).

``verify(secret, headers, body)`` checks, in order: the three ``webhook-*`` headers are present,
the timestamp is within ``tolerance`` seconds of now (either direction), one of the
space-separated ``v1,<base64>`` signatures matches HMAC-SHA256 over ``id.timestamp.body``
(constant-time compare), and the **signed** id was not accepted before (replay memory kept for
the tolerance window plus margin). The replay check runs only after the signature held, so an
attacker cannot burn a genuine id, and cannot replay a captured delivery under a new id (the
new id breaks the signature).

``body`` may be ``bytes`` or ``str`` (encoded as UTF-8). Every failure, including a malformed
secret or header, raises ``WebhookVerificationError`` with a ``reason``; nothing else escapes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping

from octollm.errors import Unauthorized
from octollm.webhooks.replay import MemoryReplayStore, ReplayStore
from octollm.webhooks.signing import (
    ID_HEADER,
    SIGNATURE_HEADER,
    SIGNATURE_VERSION,
    TIMESTAMP_HEADER,
    key_bytes,
)

_default_store = MemoryReplayStore()


class WebhookVerificationError(Unauthorized):
    code = "WEBHOOK_SIGNATURE_INVALID"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message, details={"reason": reason})
        self.reason = reason


def _header(headers: Mapping[str, str], name: str) -> str:
    try:
        lowered = {str(k).lower(): v for k, v in headers.items()}
    except (AttributeError, TypeError):
        raise WebhookVerificationError("bad_headers", "headers must be a mapping") from None
    value = lowered.get(name.lower())
    if not value or not isinstance(value, str):
        raise WebhookVerificationError("missing_header", f"the {name} header is missing")
    return value


def _signatures(header: str) -> list[bytes]:
    """The decoded ``v1`` signatures of a ``webhook-signature`` header (others are skipped)."""
    found: list[bytes] = []
    for part in header.split():
        version, _, encoded = part.partition(",")
        if version != SIGNATURE_VERSION:
            continue
        try:
            found.append(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            continue
    return found


def verify(
    secret: str | bytes,
    headers: Mapping[str, str],
    body: bytes | str,
    tolerance: float = 300,
    *,
    replay_store: ReplayStore | None = None,
    now: float | None = None,
) -> str:
    """Check one delivery; returns its (signed) id. Raises only ``WebhookVerificationError``."""
    msg_id = _header(headers, ID_HEADER)
    timestamp = _header(headers, TIMESTAMP_HEADER)
    sent = _signatures(_header(headers, SIGNATURE_HEADER))
    if isinstance(body, str):
        payload = body.encode()
    elif isinstance(body, bytes | bytearray | memoryview):
        payload = bytes(body)
    else:
        raise WebhookVerificationError("bad_body", "the body must be bytes or str")
    try:
        stamp = int(timestamp)
    except ValueError:
        raise WebhookVerificationError(
            "bad_timestamp", f"{TIMESTAMP_HEADER} is not Unix seconds"
        ) from None
    current = time.time() if now is None else now
    if abs(current - stamp) > tolerance:
        raise WebhookVerificationError(
            "stale_timestamp",
            f"timestamp is {current - stamp:.0f} s away from now (tolerance {tolerance:.0f} s)",
        )
    try:
        key = key_bytes(secret)
    except (ValueError, TypeError, AttributeError):
        raise WebhookVerificationError("bad_secret", "the secret is not usable") from None
    signed = msg_id.encode() + b"." + timestamp.encode() + b"." + payload
    expected = hmac.new(key, signed, hashlib.sha256).digest()
    if not any(hmac.compare_digest(expected, s) for s in sent):
        raise WebhookVerificationError("bad_signature", "no signature matches the body")
    store = replay_store if replay_store is not None else _default_store
    try:
        fresh = store.first_seen(msg_id, ttl_seconds=2 * tolerance + 60)
    except Exception as exc:
        raise WebhookVerificationError(
            "replay_store_unavailable", f"cannot check replays: {type(exc).__name__}"
        ) from exc
    if not fresh:
        raise WebhookVerificationError("replayed", f"message {msg_id} was already accepted")
    return msg_id
