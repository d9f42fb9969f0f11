"""Signed webhooks: registration, delivery on their own queue, verification for receivers.

Receivers verify with ``octollm.webhooks.verify(secret, headers, body, tolerance=300)``.
"""

from octollm.webhooks.registry import (
    DELIVER_TASK,
    WEBHOOKS_QUEUE_ARM,
    Attempt,
    Delivery,
    Endpoint,
    attempts,
    deactivate,
    deliveries,
    fan_out,
    list_endpoints,
    redeliver,
    register,
)
from octollm.webhooks.replay import MemoryReplayStore, RedisReplayStore, ReplayStore
from octollm.webhooks.signing import new_secret, signature, signed_headers
from octollm.webhooks.ssrf import UnsafeWebhookTarget, resolve_target
from octollm.webhooks.verify import WebhookVerificationError, verify

__all__ = [
    "DELIVER_TASK",
    "WEBHOOKS_QUEUE_ARM",
    "Attempt",
    "Delivery",
    "Endpoint",
    "MemoryReplayStore",
    "RedisReplayStore",
    "ReplayStore",
    "UnsafeWebhookTarget",
    "WebhookVerificationError",
    "attempts",
    "deactivate",
    "deliveries",
    "fan_out",
    "list_endpoints",
    "new_secret",
    "redeliver",
    "register",
    "resolve_target",
    "signature",
    "signed_headers",
    "verify",
]
