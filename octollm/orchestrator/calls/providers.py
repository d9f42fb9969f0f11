"""The process's LLM client: one per endpoint and model, guarded by retries and by a circuit
breaker that every worker shares through Redis.

The breaker is keyed by the sha256 of ``endpoint|model`` (``octollm:breaker:llm:<16 hex>``), so
every process of the fleet that talks to the same model on the same endpoint sees the same
state, whatever its settings object looks like. Without a reachable Redis setting (a bare
test process) the client still retries; it just has no breaker.
"""

from __future__ import annotations

import hashlib
import threading

import redis

from octollm.config import Settings
from octollm.config.resilience import ResilienceSettings
from octollm.contracts.llm import ChatLLM
from octollm.errors import LLMUnavailable, ServiceUnavailable
from octollm.llm.client import OpenAIChatClient, client_from_settings
from octollm.resilience import CircuitBreaker, Guard, RetryPolicy

_clients: dict[tuple[object, ...], OpenAIChatClient] = {}
_redis: dict[str, redis.Redis] = {}
_lock = threading.Lock()


def breaker_name(base_url: str, model: str) -> str:
    digest = hashlib.sha256(f"{base_url.rstrip('/')}|{model}".encode()).hexdigest()[:16]
    return f"llm:{digest}"


def redis_client(url: str) -> redis.Redis:
    """One pooled client per Redis URL in this process (thread-safe)."""
    with _lock:
        client = _redis.get(url)
        if client is None:
            client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
            _redis[url] = client
        return client


def llm_breaker(settings: Settings) -> CircuitBreaker | None:
    """The shared breaker of the configured endpoint+model, or None (disabled, no Redis)."""
    cfg = settings.resilience
    llm = settings.llm
    if not cfg.breaker_enabled or llm.base_url is None:
        return None
    try:
        url = settings.redis_url()
    except RuntimeError:
        return None
    return breaker(redis_client(url), breaker_name(llm.base_url, llm.model), cfg, llm.base_url)


def breaker(
    client: redis.Redis,
    name: str,
    cfg: ResilienceSettings,
    describe: str = "",
    *,
    error: type[ServiceUnavailable] = LLMUnavailable,
) -> CircuitBreaker:
    return CircuitBreaker(
        client,
        name,
        failure_threshold=cfg.breaker_failure_threshold,
        window_seconds=cfg.breaker_window_seconds,
        reset_seconds=cfg.breaker_reset_seconds,
        probe_seconds=cfg.breaker_probe_seconds,
        describe=describe,
        error=error,
    )


def retry_policy(cfg: ResilienceSettings) -> RetryPolicy:
    return RetryPolicy(
        attempts=cfg.llm_attempts,
        base_seconds=cfg.backoff_base_seconds,
        max_seconds=cfg.backoff_max_seconds,
        max_retry_after_seconds=cfg.max_retry_after_seconds,
    )


def chat_client(settings: Settings) -> ChatLLM:
    """The process's guarded client for ``settings.llm`` (requires ``llm.base_url``)."""
    llm, cfg = settings.llm, settings.resilience
    try:
        redis_url: str | None = settings.redis_url()
    except RuntimeError:
        redis_url = None
    # The dump masks the API key: it is part of the key on its own.
    key = (llm.model_dump_json(), llm.api_key.get_secret_value(), cfg.model_dump_json(), redis_url)
    with _lock:
        client = _clients.get(key)
    if client is not None:
        return client
    guard = Guard(retry_policy(cfg), llm_breaker(settings))
    built = client_from_settings(llm, guard=guard)
    with _lock:
        client = _clients.setdefault(key, built)
    if client is not built:
        built.close()
    return client
