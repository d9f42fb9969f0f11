"""What the API process holds for its lifetime, built in the lifespan and reached by routes."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import redis
import redis.asyncio as aioredis
from celery import Celery
from fastapi import Request
from prometheus_client import CollectorRegistry

from octollm.api.config import ApiSettings
from octollm.api.readiness import Readiness
from octollm.config import Settings
from octollm.events import RedisEventBus
from octollm.observability import metrics_registry
from octollm.orchestrator.broker.config import build as celery_conf
from octollm.orchestrator.broker.fleet import load_fleet
from octollm.orchestrator.runtime import Runtime
from octollm.security.ratelimit import RateLimiter
from octollm.store.db import Database


@dataclass
class ApiState:
    settings: Settings
    config: ApiSettings
    runtime: Runtime
    redis: redis.Redis
    aredis: aioredis.Redis
    limiter: RateLimiter
    readiness: Readiness
    #: What ``GET /metrics`` serves: this API's (or, in multiprocess mode, every process's)
    #: metrics and the queue depth of every octollm queue.
    metrics: CollectorRegistry
    started_at: float = field(default_factory=time.monotonic)

    @property
    def db(self) -> Database:
        return self.runtime.db

    @classmethod
    def build(cls, settings: Settings, config: ApiSettings) -> ApiState:
        celery = Celery("octollm-api")
        celery.conf.update(celery_conf(settings))
        redis_url = settings.redis_url()
        client = redis.Redis.from_url(
            redis_url,
            socket_timeout=5,
            socket_connect_timeout=5,
            max_connections=config.redis_max_connections,
        )
        aclient = aioredis.Redis.from_url(
            redis_url,
            socket_connect_timeout=5,
            max_connections=config.redis_max_connections,
        )
        runtime = Runtime(
            settings=settings,
            db=Database.from_settings(settings),
            app=celery,
            events=RedisEventBus(client),
        )
        readiness = Readiness(
            runtime,
            arms=config.ready_arms or fleet_arms(),
            cache_seconds=config.ready_cache_seconds,
            inspect_timeout=config.ready_inspect_timeout_seconds,
        )
        return cls(
            settings=settings,
            config=config,
            runtime=runtime,
            redis=client,
            aredis=aclient,
            limiter=RateLimiter(client),
            readiness=readiness,
            metrics=metrics_registry(settings),
        )

    async def close(self) -> None:
        await self.aredis.aclose()
        self.redis.close()
        self.runtime.db.dispose()
        self.runtime.app.close()


def fleet_arms() -> tuple[str, ...]:
    """Every arm served by a pool of the worker fleet (each must have a consumer)."""
    arms: dict[str, None] = {}
    for pool in load_fleet().values():
        arms.update(dict.fromkeys(pool.arms))
    return tuple(arms)


def get_state(request: Request) -> ApiState:
    state = request.app.state.octollm
    assert isinstance(state, ApiState)
    return state
