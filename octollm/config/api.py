"""The API edge's knobs: the ``api`` section of ``Settings``, read from ``OCTOLLM_API__*``.

Rate limits, reflex screening, caching, batching, back-pressure and streaming. Per-tenant
policy is a JSON map, e.g.
``OCTOLLM_API__TENANTS='{"acme": {"screening": "redact", "submit": {"rate": 50, "burst": 100}}}'``
(``"screening"`` also takes a table: ``{"injection": {"high": "block"}, "pii": {"high": "off"}}``,
see ``octollm.config.screening``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, model_validator

from octollm.config.screening import Screening


class RateSpec(BaseModel):
    rate: float = Field(gt=0, description="Tokens added per second.")
    burst: int = Field(ge=1, description="Bucket capacity: the largest burst admitted at once.")


class RateLimits(BaseModel):
    enabled: bool = Field(
        default=True, description="Apply the rate limits (off: no token buckets at all)."
    )
    submit: RateSpec = Field(
        default_factory=lambda: RateSpec(rate=20, burst=40),
        description="Per tenant, for task submissions (a batch pays one token per item).",
    )
    submit_per_key: RateSpec = Field(
        default_factory=lambda: RateSpec(rate=20, burst=40),
        description="Per API key, for task submissions.",
    )
    read: RateSpec = Field(
        default_factory=lambda: RateSpec(rate=100, burst=200),
        description="Per tenant, for every other authenticated request.",
    )
    read_per_key: RateSpec = Field(
        description="Per API key, for every other authenticated request.",
        default_factory=lambda: RateSpec(rate=100, burst=200),
    )

    @model_validator(mode="before")
    @classmethod
    def _partial_limits(cls, data: Any) -> Any:
        """A limit given in part (``OCTOLLM_API__RATE_LIMITS__READ__RATE=9`` alone) keeps the
        default of the part left out instead of failing for want of it."""
        if not isinstance(data, dict) or not data:
            return data
        defaults = cls().model_dump()
        return {
            name: {**defaults[name], **value}
            if isinstance(value, dict) and isinstance(defaults.get(name), dict)
            else value
            for name, value in data.items()
        }


class TenantPolicy(BaseModel):
    screening: Screening | None = None
    submit: RateSpec | None = None
    read: RateSpec | None = None
    cache: bool | None = None


class ApiSettings(BaseModel):
    """The ``api`` section of ``Settings``."""

    rate_limits: RateLimits = Field(
        description="Token buckets per tenant and per key (Redis, shared by every API process).",
        default_factory=RateLimits,
    )
    screening: Screening = Field(
        default="default",
        description="What the reflex edge does with risky input: a preset (default: refuse "
        "high-confidence critical findings, flag the rest; block: refuse high and critical; "
        "redact: replace PII and secrets, refuse injections; warn: flag everything; off) or a "
        "table of block/flag/off per category and severity.",
    )
    cache_ttl_seconds: int = Field(
        default=600,
        ge=0,
        description="How long a completed task answers an identical request (0 turns it off).",
    )
    tenants: dict[str, TenantPolicy] = Field(
        description="Per-tenant overrides, a JSON map of tenant to {screening, submit, read, "
        "cache}; a tenant not listed uses the defaults.",
        default_factory=dict,
    )
    idempotency_ttl_hours: int = Field(
        description="How long an Idempotency-Key is remembered.", default=24, ge=1, le=24 * 30
    )
    batch_max_items: int = Field(
        description="Most tasks in one batch submission.", default=100, ge=1, le=1000
    )
    operator_tenants: tuple[str, ...] = Field(
        default=(),
        description="Tenants whose admin keys may set any tenant's weight and limits "
        "(PUT /api/v1/tenants/{tenant}/limits) and read any tenant's tasks "
        "(?tenant= on the task routes); every admin may read its own tenant's.",
    )
    page_max: int = Field(
        description="Largest page size of list endpoints.", default=100, ge=1, le=1000
    )
    ready_arms: tuple[str, ...] | None = Field(
        default=None,
        description="Arms whose queues need >= 1 consuming worker for /ready; unset: every "
        "arm of the worker fleet (the fleet file: OCTOLLM_FLEET_FILE or the shipped default).",
    )
    max_in_flight: int = Field(
        default=64,
        ge=1,
        le=10_000,
        description="Requests one process handles at once (streams and probes not counted); "
        "more get 503 with Retry-After instead of queueing without bound.",
    )
    ready_cache_seconds: float = Field(
        description="How long a /ready answer is reused (0: inspect the fleet on every probe).",
        default=5.0,
        ge=0,
    )
    ready_inspect_timeout_seconds: float = Field(
        description="How long /ready waits for workers to answer Celery's inspect.",
        default=1.0,
        gt=0,
        le=10,
    )
    sse_keepalive_seconds: float = Field(
        description="Interval of SSE keep-alive comments on an idle stream.", default=15.0, gt=0
    )
    sse_max_seconds: float = Field(
        default=3600.0, gt=0, description="An SSE response ends after this long; clients resume."
    )
    ws_queue_size: int = Field(
        default=256,
        ge=1,
        description="Messages buffered per WebSocket; a client that falls "
        "this far behind is disconnected (1013) instead of slowing anyone else.",
    )
    ws_slow_after_seconds: float = Field(
        default=5.0, gt=0, description="How long a full WebSocket queue may stay full."
    )
    ws_max_subscriptions: int = Field(
        description="Tasks one WebSocket may follow at once.", default=50, ge=1
    )
    redis_max_connections: int = Field(
        description="Size of each API process's Redis connection pools.", default=200, ge=4
    )
    max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1,
        description="The largest request body accepted; a larger one gets 413 (problem JSON) "
        "before it is parsed. Streams carry no body and are exempt.",
    )
    ws_allowed_origins: tuple[str, ...] = Field(
        default=(),
        description="Browser origins (scheme://host[:port]) allowed to open a WebSocket besides "
        "the API's own origin; clients sending no Origin (not browsers) are always allowed. "
        "A foreign Origin is closed with 1008. '*' allows every origin.",
    )

    def policy(self, tenant: str) -> TenantPolicy:
        return self.tenants.get(tenant, TenantPolicy())

    def screening_for(self, tenant: str) -> Screening:
        return self.policy(tenant).screening or self.screening

    def submit_rate(self, tenant: str) -> RateSpec:
        return self.policy(tenant).submit or self.rate_limits.submit

    def read_rate(self, tenant: str) -> RateSpec:
        return self.policy(tenant).read or self.rate_limits.read

    def cache_enabled(self, tenant: str) -> bool:
        enabled = self.policy(tenant).cache
        return self.cache_ttl_seconds > 0 and (enabled is None or enabled)
