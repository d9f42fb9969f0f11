"""Settings sections for events, webhooks, metrics, tracing and Flower.

Mounted on ``Settings`` as ``events``, ``webhooks``, ``metrics``, ``tracing`` and ``flower``, so
they read ``OCTOLLM_<SECTION>__<FIELD>`` (``OCTOLLM_WEBHOOKS__ALLOWLIST='["127.0.0.1:8080"]'``,
``OCTOLLM_FLOWER__USER``, ``OCTOLLM_FLOWER__PASSWORD``, ``OCTOLLM_METRICS__WORKER_PORT``...).
"""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr, field_validator


class SubscriptionSpec(BaseModel):
    """An event type that triggers an arm capability, run as a Celery task on the arm's queue."""

    event_type: str = Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
    arm: str = Field(description="The arm that reacts (its pool's queues run the reaction).")
    action: str = Field(default="validate", description="The capability asked of the arm.")
    emits: str = Field(description="Event type published with the arm's output.")
    urgency: str = Field(default="high", pattern="^(critical|high|medium|low)$")
    max_attempts: int = Field(default=3, ge=1, le=20)

    @property
    def name(self) -> str:
        return f"{self.event_type}->{self.arm}.{self.action}"


def _default_subscriptions() -> list[SubscriptionSpec]:
    return [SubscriptionSpec(event_type="code.generated", arm="judge", emits="validation.complete")]


class EventSettings(BaseModel):
    stream_maxlen: int = Field(
        default=100_000, ge=1000, description="Approximate length cap of the durable event stream."
    )
    dead_letter_maxlen: int = Field(
        description="Approximate length cap of the event dead-letter stream.",
        default=10_000,
        ge=100,
    )
    reclaim_idle_seconds: float = Field(
        default=60.0,
        gt=0,
        description="A read but unacknowledged event is taken over by another "
        "consumer after this long (its consumer is presumed dead). Keep it above the slowest "
        "handler's run time.",
    )
    max_deliveries: int = Field(
        default=5,
        ge=1,
        description="Deliveries of one event to a failing handler before it goes "
        "to the dead-letter stream.",
    )
    dispatch_in_worker: bool = Field(
        default=True,
        description="Run the event dispatcher (webhook fan-out, subscriptions) as a "
        "thread inside workers of the webhooks pool.",
    )
    subscriptions: list[SubscriptionSpec] = Field(
        description="Event types that trigger an arm capability (a JSON list of {event_type, arm, "
        "action, emits, urgency, max_attempts}); by default a generated code artefact "
        "is validated by the judge.",
        default_factory=_default_subscriptions,
    )


class WebhookSettings(BaseModel):
    allowlist: list[str] = Field(
        default_factory=list,
        description="host:port pairs exempt from the SSRF guard (e.g. an "
        "in-cluster receiver). Everything else must resolve to public addresses only.",
    )
    timeout_seconds: float = Field(
        description="Time allowed for one delivery request.", default=10.0, gt=0, le=60
    )
    max_attempts: int = Field(default=8, ge=1, le=30, description="Attempts before dead-lettering.")
    backoff_base_seconds: float = Field(
        description="First redelivery waits about this long; each attempt doubles it (with "
        "jitter).",
        default=2.0,
        gt=0,
    )
    backoff_max_seconds: float = Field(
        description="Cap of one redelivery backoff.", default=3600.0, gt=0
    )
    max_retry_after_seconds: float = Field(
        default=3600.0, gt=0, description="A receiver's Retry-After is honoured up to this long."
    )
    allow_http: bool = Field(default=True, description="Allow plain http:// endpoints.")
    secret_keys: list[SecretStr] = Field(
        default_factory=list,
        description="Fernet keys sealing the endpoints' signing secrets at rest, newest first "
        "(shared by every process that registers or delivers). Unset: "
        "<data_dir>/webhook-secrets.keys, generated on first use; `octollm webhooks rotate-key`.",
    )

    @field_validator("allowlist")
    @classmethod
    def _host_port(cls, value: list[str]) -> list[str]:
        for item in value:
            host, sep, port = item.rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ValueError(f"allowlist entry {item!r} must be host:port")
        return [item.lower() for item in value]


class MetricsSettings(BaseModel):
    worker_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="Workers serve /metrics on this port (0: off). With "
        "PROMETHEUS_MULTIPROC_DIR set, prefork children share it through the multiprocess files.",
    )
    address: str = Field(default="127.0.0.1", description="Bind address of worker/exporter ports.")


class TracingSettings(BaseModel):
    otel: bool = Field(
        default=False,
        description="Create OpenTelemetry spans (needs opentelemetry-sdk and an "
        "exporter configured in the process; traceparent headers flow either way).",
    )


class FlowerSettings(BaseModel):
    address: str = Field(default="127.0.0.1", description="Bind address; keep it private.")
    port: int = Field(description="Port Flower listens on.", default=5555, ge=1, le=65535)
    user: str | None = Field(default=None, description="Basic-auth user (required by default).")
    password: SecretStr | None = Field(default=None, description="Basic-auth password.")
    url_prefix: str = Field(default="", description="When served behind a proxy at a sub-path.")
    max_tasks: int = Field(default=10_000, ge=100, description="Tasks kept in Flower's memory.")
    task_events: bool = Field(
        default=False,
        description="Workers and publishers send Celery task events (sent, received, started, "
        "succeeded/failed: four broker publishes per step), which Flower's task views and "
        "counters need; set it on every worker host. Off: Flower lists workers and queues only.",
    )
    broker_api: SecretStr | None = Field(
        default=None, description="RabbitMQ management API URL (queue lengths on AMQP brokers)."
    )

    @field_validator("user")
    @classmethod
    def _user(cls, value: str | None) -> str | None:
        if value is not None and (":" in value or "," in value):
            raise ValueError("the Flower user may not contain ':' or ','")
        return value

    @field_validator("password")
    @classmethod
    def _password(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and "," in value.get_secret_value():
            raise ValueError("the Flower password may not contain ',' (Flower splits on it)")
        return value


__all__ = [
    "EventSettings",
    "FlowerSettings",
    "MetricsSettings",
    "SubscriptionSpec",
    "TracingSettings",
    "WebhookSettings",
]
