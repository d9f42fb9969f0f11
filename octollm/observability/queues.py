"""Queue depth of every octollm queue, read at scrape time.

Redis: LLEN of each ``<prefix>.<arm>.<urgency>`` list plus kombu's priority sub-lists (a message
published with a priority lands in ``<queue>\\x06\\x16<n>``). RabbitMQ: a passive
``queue_declare`` per ``<prefix>.<arm>`` queue (its message count; urgency is a message priority
there, so the urgency label is ``all``). Unreachable brokers yield no samples, not an error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import redis
import structlog
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from octollm.arms.registry import known_arms
from octollm.contracts.status import URGENCY_ORDER
from octollm.orchestrator.broker import queues as routing

log = structlog.get_logger(__name__)

PRIORITY_SEP = "\x06\x16"
PRIORITY_STEPS = (0, 3, 6, 9)
#: Pseudo-arms that own queues but are not arms: control tasks and webhook deliveries.
EXTRA_QUEUE_OWNERS = (routing.CONTROL_ARM, "webhooks")


@dataclass(frozen=True)
class QueueRef:
    name: str
    arm: str
    urgency: str


def octollm_queues(prefix: str, broker_url: str, arms: list[str] | None = None) -> list[QueueRef]:
    owners = sorted(set(arms if arms is not None else known_arms())) + list(EXTRA_QUEUE_OWNERS)
    if routing.is_amqp(broker_url):
        return [
            QueueRef(routing.queue_name(prefix, a, "low", broker_url=broker_url), a, "all")
            for a in owners
        ]
    return [
        QueueRef(routing.queue_name(prefix, a, u, broker_url=broker_url), a, u.value)
        for a in owners
        for u in URGENCY_ORDER
    ]


def redis_depths(client: redis.Redis, names: list[str]) -> dict[str, int]:
    pipe = client.pipeline(transaction=False)
    for name in names:
        for step in PRIORITY_STEPS:
            pipe.llen(name if step == 0 else f"{name}{PRIORITY_SEP}{step}")
    replies = pipe.execute()
    per = len(PRIORITY_STEPS)
    return {name: int(sum(replies[i * per : (i + 1) * per])) for i, name in enumerate(names)}


def amqp_depths(broker_url: str, names: list[str]) -> dict[str, int]:
    from kombu.connection import Connection

    depths: dict[str, int] = {}
    connection: Any = Connection
    with connection(broker_url, connect_timeout=3) as conn:
        for name in names:
            try:
                channel = conn.channel()
                depths[name] = int(channel.queue_declare(queue=name, passive=True).message_count)
                channel.close()
            except Exception as exc:  # noqa: BLE001 - a missing queue (404) closes the channel
                log.debug("queue_depth_unavailable", queue=name, error=str(exc))
    return depths


def depths(broker_url: str, names: list[str], client: redis.Redis | None = None) -> dict[str, int]:
    """Messages waiting in each named queue, asked the way the broker can answer (``client``:
    a Redis connection to reuse; one is opened and closed otherwise)."""
    if routing.is_amqp(broker_url):
        return amqp_depths(broker_url, names)
    if client is not None:
        return redis_depths(client, names)
    url = broker_url.replace("redis+socket://", "unix://", 1)
    with redis.Redis.from_url(url, socket_timeout=3, socket_connect_timeout=3) as own:
        return redis_depths(own, names)


class QueueDepthCollector(Collector):
    """``octollm_queue_depth{queue, arm, urgency}`` for every octollm queue."""

    def __init__(
        self,
        broker_url: str,
        queues: Callable[[], list[QueueRef]],
        client: redis.Redis | None = None,
    ) -> None:
        self.broker_url = broker_url
        self.queues = queues
        self._client = client

    def _redis(self) -> redis.Redis:
        if self._client is None:
            url = self.broker_url.replace("redis+socket://", "unix://", 1)
            self._client = redis.Redis.from_url(url, socket_timeout=3, socket_connect_timeout=3)
        return self._client

    def collect(self) -> Iterator[Any]:
        family = GaugeMetricFamily(
            "octollm_queue_depth",
            "Messages waiting in each octollm queue.",
            labels=["queue", "arm", "urgency"],
        )
        refs = self.queues()
        try:
            client = None if routing.is_amqp(self.broker_url) else self._redis()
            found = depths(self.broker_url, [r.name for r in refs], client)
        except Exception as exc:  # noqa: BLE001 - a scrape must not fail because the broker is down
            log.warning("queue_depth_failed", error=str(exc))
            found = {}
        for ref in refs:
            if ref.name in found:
                family.add_metric([ref.name, ref.arm, ref.urgency], found[ref.name])
        yield family

    def describe(self) -> Iterator[Any]:
        return iter(())
