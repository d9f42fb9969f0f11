"""Is a ready step lost, or waiting its turn? The broker's answer, for the reconciler.

A ``queued`` step whose dependencies finished long ago may have lost its message (a flushed or
restarted broker, a lost chord) or may simply sit behind a long queue. Re-driving a waiting
step publishes a second message for it: a redundant delivery that does nothing but cost a
claim. So before re-driving, the reconciler asks the broker how many messages its arm's queues
still hold: while they hold any, the step's message is presumed among them (it is waiting);
only when they are empty, nothing ahead of the step can be holding it up and a step still not
picked up has lost its message. ``orchestrator.stall_patience_seconds`` bounds the waiting
presumption, so a message lost behind a queue that never drains is re-driven eventually.

Redis: LLEN of the arm's four urgency lists (and kombu's priority sub-lists). RabbitMQ: the
message count of a passive ``queue_declare``. A broker that cannot be asked answers "unknown",
and the reconciler re-drives as before (it never waits on a guess).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import structlog

from octollm.contracts.status import URGENCY_ORDER
from octollm.orchestrator.broker import queues as routing
from octollm.orchestrator.calls.providers import redis_client
from octollm.orchestrator.runtime import Runtime

log = structlog.get_logger(__name__)

#: kombu's Redis priority sub-lists: ``<queue>\x06\x16<n>``.
_PRIORITY_SEP = "\x06\x16"
_PRIORITY_STEPS = (0, 3, 6, 9)


def queued_messages(rt: Runtime, arms: Iterable[str]) -> dict[str, int] | None:
    """Messages waiting in each arm's queues, or None when the broker cannot be asked."""
    arms = sorted(set(arms))
    if not arms:
        return {}
    broker = rt.settings.require_broker_url()
    prefix = rt.settings.queue_prefix
    try:
        if routing.is_amqp(broker):
            return _amqp(rt, prefix, arms, broker)
        return _redis(rt, prefix, arms, broker)
    except Exception as exc:  # noqa: BLE001 - unknown means "re-drive as before"
        log.warning("backlog_unknown", error=str(exc)[:200])
        return None


def _redis(rt: Runtime, prefix: str, arms: list[str], broker: str) -> dict[str, int]:
    # The broker itself (OCTOLLM_BROKER__REDIS_URL may name another Redis, for events).
    client = redis_client(broker.replace("redis+socket://", "unix://", 1))
    pipe = client.pipeline(transaction=False)
    names = {arm: routing.queue_names_for(prefix, [arm], broker) for arm in arms}
    for arm in arms:
        for name in names[arm]:
            for step in _PRIORITY_STEPS:
                pipe.llen(name if step == 0 else f"{name}{_PRIORITY_SEP}{step}")
    replies = iter(pipe.execute())
    return {
        arm: sum(int(next(replies)) for _ in names[arm] for _ in _PRIORITY_STEPS) for arm in arms
    }


def _amqp(rt: Runtime, prefix: str, arms: list[str], broker: str) -> dict[str, int]:
    depths: dict[str, int] = {}
    conn: Any = rt.app.connection_for_read()
    with conn:
        for arm in arms:
            channel = conn.channel()
            try:
                name = routing.queue_name(prefix, arm, "low", broker_url=broker)
                depths[arm] = int(channel.queue_declare(queue=name, passive=True).message_count)
            finally:
                channel.close()
    return depths


def lane_depths(
    rt: Runtime, lanes: Iterable[str], urgency: str | None = None
) -> dict[tuple[str, str], int] | None:
    """Messages waiting per ``(lane, urgency)`` (the fair dispatcher's window; ``urgency``:
    only that one), or None when the broker cannot be asked. RabbitMQ has one queue per lane:
    its count stands for every urgency of that lane."""
    lanes = sorted(set(lanes))
    if not lanes:
        return {}
    broker = rt.settings.require_broker_url()
    prefix = rt.settings.queue_prefix
    try:
        if routing.is_amqp(broker):
            per_lane = _amqp(rt, prefix, lanes, broker)
            return {(lane, u.value): n for lane, n in per_lane.items() for u in URGENCY_ORDER}
        client = redis_client(broker.replace("redis+socket://", "unix://", 1))
        pipe = client.pipeline(transaction=False)
        urgencies = [urgency] if urgency is not None else [u.value for u in URGENCY_ORDER]
        keys = [(lane, u) for lane in lanes for u in urgencies]
        for lane, urgency in keys:
            name = routing.queue_name(prefix, lane, urgency, broker_url=broker)
            for step in _PRIORITY_STEPS:
                pipe.llen(name if step == 0 else f"{name}{_PRIORITY_SEP}{step}")
        replies = iter(pipe.execute())
        return {key: sum(int(next(replies)) for _ in _PRIORITY_STEPS) for key in keys}
    except Exception as exc:  # noqa: BLE001 - unknown means "release nothing now"
        log.warning("backlog_unknown", error=str(exc)[:200])
        return None
