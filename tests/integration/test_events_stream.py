"""Durable event consumption on real Redis: consumer groups, reclaim after a consumer dies,
dead letters, bounded length. Each test uses its own stream names, so nothing is flushed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from octollm.contracts.event import Event
from octollm.events import RedisEventBus, StreamConsumer
from octollm.events.stream import dead_letters, replay_dead_letter
from tests.support import services

ROOT = Path(__file__).resolve().parents[2]
REDIS_DB = 13


def redis_url() -> str:
    return services.REDIS_URL.rsplit("/", 1)[0] + f"/{REDIS_DB}"


@pytest.fixture
def names() -> Iterator[dict[str, str]]:
    services.require_redis()
    tag = uuid.uuid4().hex[:8]
    keys = {
        "stream": f"test:{tag}:events",
        "dead": f"test:{tag}:dead",
        "state": f"test:{tag}:state",
    }
    yield keys
    client = redis.Redis.from_url(redis_url())
    for key in client.scan_iter(f"test:{tag}:*"):
        client.delete(key)
    client.close()


def handle(url: str, state: str, consumer: str, mode: str, event: Event) -> None:
    """The handler the consumer processes run: records who handled what, in Redis."""
    client = redis.Redis.from_url(url)
    client.rpush(f"{state}:seen", consumer)
    if mode == "hang":  # read, then never finish: the process is killed before it acknowledges
        time.sleep(120)
    client.incr(f"{state}:handled:{event.event_id}")
    client.rpush(f"{state}:handled_by", consumer)


def run_consumer(url: str, stream: str, dead: str, state: str, consumer: str, mode: str) -> None:
    import threading

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    StreamConsumer(
        redis.Redis.from_url(url),
        "test-group",
        lambda e: handle(url, state, consumer, mode, e),
        consumer=consumer,
        stream=stream,
        dead_stream=dead,
        reclaim_idle_seconds=1.0,
        max_deliveries=5,
    ).run(stop, block_ms=200)


def spawn(keys: dict[str, str], consumer: str, mode: str) -> subprocess.Popen[bytes]:
    code = (
        "from tests.integration.test_events_stream import run_consumer; "
        f"run_consumer({redis_url()!r}, {keys['stream']!r}, {keys['dead']!r}, {keys['state']!r}, "
        f"{consumer!r}, {mode!r})"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, start_new_session=True)


def wait_for(predicate: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        time.sleep(0.05)


def test_an_event_read_by_a_consumer_killed_before_acking_is_reclaimed_and_handled_once(
    names: dict[str, str],
) -> None:
    client = redis.Redis.from_url(redis_url())
    bus = RedisEventBus(client, durable_stream=names["stream"])
    state = names["state"]
    doomed = spawn(names, "consumer-a", "hang")
    survivor: subprocess.Popen[bytes] | None = None
    try:
        wait_for(lambda: client.exists(names["stream"]) and client.xinfo_groups(names["stream"]))
        event = Event(event_type="code.generated", source="coder", data={"step_id": "s1"})
        bus.publish(event)
        wait_for(lambda: client.lrange(f"{state}:seen", 0, -1) == [b"consumer-a"])
        os.killpg(doomed.pid, signal.SIGKILL)
        doomed.wait(5)
        [pending] = client.xpending_range(names["stream"], "test-group", min="-", max="+", count=10)
        assert pending["consumer"] == b"consumer-a", "the dead consumer still owns the entry"

        survivor = spawn(names, "consumer-b", "ok")
        wait_for(lambda: client.get(f"{state}:handled:{event.event_id}") is not None)
        time.sleep(2.5)  # past another reclaim interval: nothing runs twice
        assert client.get(f"{state}:handled:{event.event_id}") == b"1"
        assert client.lrange(f"{state}:handled_by", 0, -1) == [b"consumer-b"]
        assert client.xpending(names["stream"], "test-group")["pending"] == 0
    finally:
        for proc in (doomed, survivor):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        client.close()


def test_an_event_whose_handler_keeps_failing_goes_to_the_dead_letter_stream_and_can_be_replayed(
    names: dict[str, str],
) -> None:
    client = redis.Redis.from_url(redis_url())
    calls: list[str] = []

    def failing(event: Event) -> None:
        calls.append(event.event_id)
        raise RuntimeError("the judge is broken")

    consumer = StreamConsumer(
        client,
        "test-group",
        failing,
        consumer="c1",
        stream=names["stream"],
        dead_stream=names["dead"],
        reclaim_idle_seconds=0.1,
        max_deliveries=3,
    )
    consumer.ensure_group()
    event = Event(event_type="code.generated", source="coder")
    RedisEventBus(client, durable_stream=names["stream"]).publish(event)
    deadline = time.monotonic() + 10
    while not dead_letters(client, dead_stream=names["dead"]) and time.monotonic() < deadline:
        consumer.poll(block_ms=100)
        time.sleep(0.12)
    [dead] = dead_letters(client, dead_stream=names["dead"])
    assert calls == [event.event_id] * 3
    assert dead["deliveries"] == "3"
    assert "the judge is broken" in dead["error"]
    assert Event.model_validate_json(dead["event"]).event_id == event.event_id
    assert client.xpending(names["stream"], "test-group")["pending"] == 0

    handled: list[str] = []
    consumer.handler = lambda e: handled.append(e.event_id)
    replay_dead_letter(client, dead["id"], stream=names["stream"], dead_stream=names["dead"])
    consumer.poll(block_ms=500)
    assert handled == [event.event_id]
    assert dead_letters(client, dead_stream=names["dead"]) == []
    client.close()


def test_the_durable_stream_is_bounded(names: dict[str, str]) -> None:
    client = redis.Redis.from_url(redis_url())
    bus = RedisEventBus(client, durable_maxlen=200, durable_stream=names["stream"])
    for i in range(2000):
        bus.publish(Event(event_type="step.started", data={"i": i}))
    length = client.xlen(names["stream"])
    assert 200 <= length < 2000 * 0.25
    client.close()
