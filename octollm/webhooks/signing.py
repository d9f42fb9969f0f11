"""Signing webhook bodies: ``X-Signature: sha256=<hex HMAC-SHA256(secret, timestamp.body)>``.

The timestamp is Unix seconds as a decimal string (``X-Timestamp``); binding it into the MAC
lets receivers reject old deliveries, and ``X-Event-ID`` lets them reject replays.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

SIGNATURE_PREFIX = "sha256="
SECRET_PREFIX = "whsec_"  # noqa: S105 - a public marker, not a secret


def new_secret() -> str:
    """A fresh signing secret (256 random bits), for endpoints registered without one."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str | bytes, timestamp: str, body: bytes) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    mac = hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256)
    return SIGNATURE_PREFIX + mac.hexdigest()


def signed_headers(
    secret: str | bytes, *, event_id: str, event_type: str, body: bytes, now: float | None = None
) -> dict[str, str]:
    """The headers of one delivery attempt (a fresh timestamp each attempt)."""
    timestamp = str(int(time.time() if now is None else now))
    return {
        "Content-Type": "application/json",
        "User-Agent": "octollm-webhooks/1",
        "X-Event-Type": event_type,
        "X-Event-ID": event_id,
        "X-Timestamp": timestamp,
        "X-Signature": signature(secret, timestamp, body),
    }
