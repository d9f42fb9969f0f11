"""Signed webhooks: registration, delivery on their own queue, verification for receivers.

Deliveries follow Standard Webhooks (``webhook-id``, ``webhook-timestamp``,
``webhook-signature: v1,<base64>``); receivers verify with
``octollm.webhooks.verify(secret, headers, body, tolerance=300)`` or the ``standardwebhooks``
package.
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
    register,
    reopen,
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
    "register",
    "reopen",
    "resolve_target",
    "signature",
    "signed_headers",
    "verify",
]
