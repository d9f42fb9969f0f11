"""The rate-limit reflex: charge the tenant's and the key's buckets for a request.

Two kinds of traffic: ``submit`` (new tasks; a batch pays one token per item) and ``read``
(everything else). The ``X-RateLimit-*`` headers go on every charged response; a refusal is a
``RateLimited`` error (429 with ``Retry-After``).
"""

from __future__ import annotations

from typing import Any, Literal

from starlette.requests import HTTPConnection

from octollm.api import metrics
from octollm.api.config import ApiSettings
from octollm.errors import RateLimited
from octollm.security.apikeys import Principal
from octollm.security.ratelimit import Bucket, RateLimiter

Kind = Literal["submit", "read"]


def buckets_for(
    limiter: RateLimiter, config: ApiSettings, principal: Principal, kind: Kind
) -> list[Bucket]:
    limits = config.rate_limits
    tenant_spec = (
        config.submit_rate(principal.tenant)
        if kind == "submit"
        else config.read_rate(principal.tenant)
    )
    key_spec = limits.submit_per_key if kind == "submit" else limits.read_per_key
    return [
        Bucket(limiter.key(kind, "tenant", principal.tenant), tenant_spec.burst, tenant_spec.rate),
        Bucket(limiter.key(kind, "key", principal.key_id), key_spec.burst, key_spec.rate),
    ]


def charge(
    request: HTTPConnection,
    limiter: RateLimiter,
    config: ApiSettings,
    principal: Principal,
    kind: Kind,
    cost: int = 1,
) -> None:
    """Pay for this request or raise ``RateLimited``; leaves the headers for the response."""
    if not config.rate_limits.enabled:
        return
    decision = limiter.hit(buckets_for(limiter, config, principal, kind), cost)
    headers: dict[str, Any] = request.scope.setdefault("state", {}).setdefault(
        "response_headers", {}
    )
    headers.update(decision.headers())
    if not decision.allowed:
        metrics.RATE_LIMITED.labels(kind).inc()
        raise RateLimited(
            f"rate limit exceeded for tenant {principal.tenant!r} ({kind}); "
            f"retry in {decision.retry_after_seconds} s",
            retry_after=decision.retry_after_seconds,
            details={"limit": decision.limit, "kind": kind},
        )
