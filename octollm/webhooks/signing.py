"""Signing webhook deliveries as Standard Webhooks (standardwebhooks.com).

Every attempt carries three headers::

    webhook-id:         the event id (the same on every attempt of one delivery)
    webhook-timestamp:  Unix seconds of this attempt
    webhook-signature:  v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")> [v1,<...> ...]

The id is inside the MAC, so a receiver that remembers accepted ids (``verify``) cannot be
fooled by a captured delivery with a new id. Several signatures, space-separated, are sent
while an endpoint's secret is being rotated (one per secret); a receiver accepts any.

Secrets are ``whsec_<base64>`` as the specification defines them: the key is the decoded bytes.
A secret without the prefix (endpoints registered before octollm followed the specification)
keys the MAC with its UTF-8 bytes, so those receivers keep verifying.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Sequence

SIGNATURE_VERSION = "v1"
SECRET_PREFIX = "whsec_"  # noqa: S105 - a public marker, not a secret
#: The specification asks for 24 to 64 bytes of key.
MIN_KEY_BYTES = 24
MAX_KEY_BYTES = 64
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"


def new_secret() -> str:
    """A fresh signing secret: ``whsec_`` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def is_standard_secret(secret: str) -> bool:
    """Whether ``secret`` is ``whsec_<base64>`` of 24 to 64 bytes."""
    if not secret.startswith(SECRET_PREFIX):
        return False
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        return False
    return MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES


def key_bytes(secret: str | bytes) -> bytes:
    """The HMAC key of a secret: decoded ``whsec_`` base64, raw bytes, or a legacy string's UTF-8.

    Raises ``ValueError`` for a ``whsec_`` secret whose base64 does not decode.
    """
    if isinstance(secret, bytes):
        return secret
    if secret.startswith(SECRET_PREFIX):
        try:
            return base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
        except binascii.Error as exc:
            raise ValueError("the whsec_ secret is not valid base64") from exc
    return secret.encode()


def signature(secret: str | bytes, msg_id: str, timestamp: str, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256(key, id.timestamp.body)>``."""
    signed = msg_id.encode() + b"." + timestamp.encode() + b"." + body
    mac = hmac.new(key_bytes(secret), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(mac).decode()}"


def signed_headers(
    secrets_: str | bytes | Sequence[str | bytes],
    *,
    event_id: str,
    event_type: str,
    body: bytes,
    now: float | None = None,
) -> dict[str, str]:
    """The headers of one delivery attempt (a fresh timestamp each attempt).

    ``secrets_`` is the endpoint's secret, or its secrets during a rotation (one signature each).
    """
    keys = [secrets_] if isinstance(secrets_, str | bytes) else list(secrets_)
    timestamp = str(int(time.time() if now is None else now))
    return {
        "Content-Type": "application/json",
        "User-Agent": "octollm-webhooks/2",
        ID_HEADER: event_id,
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: " ".join(signature(k, event_id, timestamp, body) for k in keys),
        "webhook-event-type": event_type,
    }
