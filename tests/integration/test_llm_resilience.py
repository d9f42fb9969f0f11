"""LLM provider resilience against a scripted OpenAI-protocol server: retries with backoff,
``Retry-After`` honoured, and a circuit breaker shared by every process through Redis.

The client-level tests use their own Redis DB (14); the worker tests run real ``celery worker``
processes (``live_stack``) whose steps call the scripted server through the ``chatter`` arm.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from prometheus_client import CollectorRegistry, multiprocess

from octollm.config import Settings
from octollm.config.resilience import ResilienceSettings
from octollm.config.settings import BrokerSettings, LLMSettings
from octollm.contracts import TaskContract
from octollm.contracts.task import Budget
from octollm.errors import LLMUnavailable, PermanentError
from octollm.llm import OpenAIChatClient
from octollm.orchestrator.calls.providers import breaker_name, chat_client
from octollm.orchestrator.engine import lifecycle
from octollm.resilience import CircuitBreaker, Guard, RetryPolicy, on_state_change, remove_listener
from tests.support import services
from tests.support.fake_llm import FakeLLM, HTTPError, Reply
from tests.support.fake_llm import fake_llm as fake_llm  # the shared fixture
from tests.support.stack import ROOT, LiveStack, live_stack, make_runtime, steps_of, wait_for_task

REDIS_DB = 14
HELLO = [{"role": "user", "content": "hello"}]


@pytest.fixture
def redis_url() -> Iterator[str]:
    services.require_redis()
    url = f"{services.REDIS_URL.rsplit('/', 1)[0]}/{REDIS_DB}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


def settings_for(llm: FakeLLM, redis_url: str, **resilience: Any) -> Settings:
    cfg = {
        "breaker_failure_threshold": 3,
        "breaker_reset_seconds": 1.0,
        "backoff_base_seconds": 0.01,
        **resilience,
    }
    return Settings(
        llm=LLMSettings(base_url=llm.base_url, model=f"fake-{os.getpid()}-{time.time_ns()}"),
        broker=BrokerSettings(url=redis_url),  # type: ignore[arg-type]
        resilience=ResilienceSettings(**cfg),
    )


def shared_breaker(settings: Settings, redis_url: str) -> CircuitBreaker:
    assert settings.llm.base_url is not None
    name = breaker_name(settings.llm.base_url, settings.llm.model)
    return CircuitBreaker(redis.Redis.from_url(redis_url), name)


# -- one client --------------------------------------------------------------------------------


def test_a_429_with_retry_after_is_waited_out_and_the_same_call_then_succeeds(
    fake_llm: FakeLLM,
) -> None:
    stamps: list[float] = []
    fake_llm.script(rate_limited_once(stamps))
    guard = Guard(RetryPolicy(attempts=3))
    with OpenAIChatClient(fake_llm.base_url, model="m", guard=guard) as client:
        assert client.chat(HELLO).text == "hi"
    assert len(stamps) == 2
    assert 1.0 <= stamps[1] - stamps[0] < 3.0


def test_a_500_is_retried_and_a_400_is_not(fake_llm: FakeLLM) -> None:
    guard = Guard(RetryPolicy(attempts=3, base_seconds=0.01))
    with OpenAIChatClient(fake_llm.base_url, model="m", guard=guard) as client:
        fake_llm.script([HTTPError(500), HTTPError(503), "third time"])
        assert client.chat(HELLO).text == "third time"
        fake_llm.script([HTTPError(400, {"error": {"message": "bad request"}}), "never"])
        with pytest.raises(PermanentError, match="HTTP 400"):
            client.chat(HELLO)
    assert len(fake_llm.chat_requests) == 4


@pytest.mark.exclusive  # a time bound: the machine must be quiet
def test_a_burst_of_500s_opens_the_breaker_and_another_process_then_fails_fast_without_calling(
    fake_llm: FakeLLM, redis_url: str
) -> None:
    # The breaker stays open longer than a second process takes to start on a loaded machine.
    settings = settings_for(fake_llm, redis_url, breaker_reset_seconds=30.0)
    fake_llm.script(lambda _: HTTPError(500, {"error": {"message": "down"}}))
    with pytest.raises(LLMUnavailable, match="HTTP 500"):
        chat_client(settings).chat(HELLO)  # 3 attempts, 3 failures: the breaker opens
    assert len(fake_llm.chat_requests) == 3
    assert shared_breaker(settings, redis_url).state() == "open"
    other = _call_in_another_process(settings)
    assert other["error"] == "LLMUnavailable"
    assert other["reason"] == "CIRCUIT_OPEN"
    assert 0 < other["retry_after"] <= 30.0
    assert other["seconds"] < 0.5
    assert len(fake_llm.chat_requests) == 3, "the second process never reached the server"


def _call_in_another_process(settings: Settings) -> dict[str, Any]:
    code = """
import json, sys, time
from octollm.config import Settings
from octollm.orchestrator.calls.providers import chat_client
from octollm.errors import OctoError
settings = Settings.model_validate_json(sys.argv[1])
started = time.monotonic()
try:
    chat_client(settings).chat([{"role": "user", "content": "hello"}])
    print(json.dumps({"error": None}))
except OctoError as exc:
    print(json.dumps({"error": type(exc).__name__, "reason": exc.details.get("reason"),
                      "retry_after": exc.retry_after, "seconds": time.monotonic() - started}))
"""
    dumped = settings.model_dump(mode="json")
    dumped["broker"]["url"] = settings.require_broker_url()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCTOLLM_")}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(dumped)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=True,
    )
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def test_after_the_reset_timeout_one_probe_goes_and_its_success_closes_the_breaker(
    fake_llm: FakeLLM, redis_url: str
) -> None:
    settings = settings_for(fake_llm, redis_url, llm_attempts=1)
    client = chat_client(settings)
    fake_llm.script([HTTPError(500)] * 3)
    for _ in range(3):
        with pytest.raises(LLMUnavailable):
            client.chat(HELLO)
    time.sleep(1.1)
    fake_llm.script([Reply("probe ok", delay=0.6), "after"])
    probe: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: probe.update(reply=client.chat(HELLO).text))
    thread.start()
    time.sleep(0.2)  # the probe is out: everyone else still fails fast
    with pytest.raises(LLMUnavailable) as during:
        client.chat(HELLO)
    thread.join(5)
    assert during.value.details["state"] == "half_open"
    assert probe["reply"] == "probe ok"
    assert shared_breaker(settings, redis_url).state() == "closed"
    assert client.chat(HELLO).text == "after"
    assert len(fake_llm.chat_requests) == 5


def test_a_failed_probe_opens_the_breaker_again_and_listeners_see_every_transition(
    fake_llm: FakeLLM, redis_url: str
) -> None:
    settings = settings_for(fake_llm, redis_url, llm_attempts=1)
    client = chat_client(settings)
    seen: list[tuple[str, str]] = []

    def listener(name: str, old: str, new: str) -> None:
        seen.append((old, new))

    on_state_change(listener)
    try:
        fake_llm.script([HTTPError(502)] * 4)
        for _ in range(3):
            with pytest.raises(LLMUnavailable):
                client.chat(HELLO)
        time.sleep(1.1)
        with pytest.raises(LLMUnavailable, match="HTTP 502"):
            client.chat(HELLO)  # the probe, and it fails
        with pytest.raises(LLMUnavailable) as fast:
            client.chat(HELLO)
    finally:
        remove_listener(listener)
    assert fast.value.details["reason"] == "CIRCUIT_OPEN"
    assert seen == [("closed", "open"), ("open", "half_open"), ("half_open", "open")]
    assert len(fake_llm.chat_requests) == 4


def test_without_redis_the_breaker_fails_open_and_calls_still_go_through(
    fake_llm: FakeLLM,
) -> None:
    dead = CircuitBreaker(redis.Redis(port=1, socket_connect_timeout=0.2), "llm:nowhere")
    fake_llm.script(["through"])
    with OpenAIChatClient(fake_llm.base_url, model="m", guard=Guard(RetryPolicy(), dead)) as c:
        assert c.chat(HELLO).text == "through"


# -- real workers ------------------------------------------------------------------------------


@pytest.fixture
def llm_stack(tmp_path: Path, fake_llm: FakeLLM) -> Iterator[LiveStack]:
    env = {
        "OCTOLLM_LLM__BASE_URL": fake_llm.base_url,
        "OCTOLLM_RESILIENCE__BREAKER_FAILURE_THRESHOLD": "3",
        # Long enough for a second worker to start while the breaker is still open.
        "OCTOLLM_RESILIENCE__BREAKER_RESET_SECONDS": "8",
        "OCTOLLM_RESILIENCE__BACKOFF_BASE_SECONDS": "0.05",
        # Workers write their metrics here (prometheus_client multiprocess mode).
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
    }
    (tmp_path / "prometheus").mkdir()
    with live_stack(tmp_path, **env) as stack:
        yield stack


def chatter_task(**budget: Any) -> TaskContract:
    plan = {"steps": [{"step_id": "talk", "arm": "chatter", "action": "say hello"}]}
    return TaskContract(goal="talk to the model once", plan=plan, budget=Budget(**budget))


def rate_limited_once(stamps: list[float]) -> Any:
    """A responder: 429 with ``Retry-After: 1`` on the first call, ``"hi"`` after; each call's
    arrival time goes to ``stamps``."""

    def answer(_: dict[str, Any]) -> Any:
        stamps.append(time.monotonic())
        if len(stamps) == 1:
            return HTTPError(429, {"error": {"message": "busy"}}, {"Retry-After": "1"})
        return "hi"

    return answer


def test_on_a_worker_a_429_with_retry_after_costs_one_step_attempt_and_one_success(
    llm_stack: LiveStack, fake_llm: FakeLLM
) -> None:
    stamps: list[float] = []
    fake_llm.script(rate_limited_once(stamps))
    llm_stack.start_fleet(["orchestrator", "chatter"])
    rt = make_runtime(llm_stack)
    try:
        row = wait_for_task(rt, lifecycle.submit(rt, chatter_task()).id, timeout=30)
        step = steps_of(rt, row.id)["talk"]
    finally:
        rt.db.dispose()
    assert row.status == "completed", row.error
    assert row.result["steps"]["talk"] == {"replies": ["hi"]}
    assert (step.status, step.attempts) == ("succeeded", 1)
    assert len(stamps) == 2
    assert stamps[1] - stamps[0] >= 1.0, "the Retry-After was honoured"


def breaker_gauge(directory: Path) -> dict[str, float]:
    """``octollm_breaker_state`` by breaker name, as the workers' metrics files have it."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    return {
        sample.labels["name"]: sample.value
        for metric in registry.collect()
        if metric.name == "octollm_breaker_state"
        for sample in metric.samples
    }


@pytest.mark.exclusive  # the breaker's open window must outlast a worker's start
def test_a_burst_of_500s_opens_the_breaker_for_every_worker_and_a_probe_closes_it(
    llm_stack: LiveStack, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    fake_llm.script(lambda _: HTTPError(500, {"error": {"message": "overloaded"}}))
    llm_stack.start_worker(["orchestrator"])
    first = llm_stack.start_worker(["chatter"], name="chatter-a")
    rt = make_runtime(llm_stack)
    try:
        failed = wait_for_task(rt, lifecycle.submit(rt, chatter_task(max_retries=0)).id, 30)
        opened_at = time.monotonic()
        assert failed.status == "failed"
        assert len(fake_llm.chat_requests) == 3  # three attempts in the step, then open
        assert list(breaker_gauge(tmp_path / "prometheus").values()) == [2.0], "gauge: open"
        first.stop()
        llm_stack.start_worker(["chatter"], name="chatter-b")  # another process
        fast = wait_for_task(rt, lifecycle.submit(rt, chatter_task(max_retries=0)).id, 30)
        error = steps_of(rt, fast.id)["talk"].error
        assert fast.status == "failed"
        assert error["code"] == "LLM_UNAVAILABLE"
        assert error["details"]["reason"] == "CIRCUIT_OPEN"
        assert len(fake_llm.chat_requests) == 3, "worker b failed fast without calling"
        fake_llm.script(["recovered"])
        time.sleep(max(0.0, opened_at + 8.2 - time.monotonic()))  # then one probe may go
        healed = wait_for_task(rt, lifecycle.submit(rt, chatter_task()).id, 30)
    finally:
        rt.db.dispose()
    assert healed.status == "completed", healed.error
    assert healed.result["steps"]["talk"] == {"replies": ["recovered"]}
    assert len(fake_llm.chat_requests) == 4
    assert list(breaker_gauge(tmp_path / "prometheus").values()) == [0.0], "gauge: closed"
