"""Shared memory between arms: the coder's episodic memory (Qdrant ``coder_memory``, real
all-MiniLM-L6-v2 embeddings, local mode) and the Redis hand-off (``octollm:arm:{arm}:{kind}:
{sha256}``, own Redis DB 14)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from octollm.arms.base import ArmContext
from octollm.arms.coder import CoderArm
from octollm.config import Settings
from octollm.config.memory import MemorySettings
from octollm.errors import InvalidInput
from octollm.llm import OpenAIChatClient
from octollm.memory.cache import Cache, stable_key
from octollm.memory.embeddings import MiniLMEmbedder
from octollm.memory.episodes import CoderMemory
from octollm.memory.handoff import Handoff
from octollm.memory.vectors import VectorStore, close_local_clients
from octollm.orchestrator.collaborators import LazyCoderMemory
from tests.support import services
from tests.support.fake_llm import FakeLLM
from tests.support.fake_llm import fake_llm as fake_llm  # the shared fixture

HOLD = """
import sys
from qdrant_client import QdrantClient
client = QdrantClient(path=sys.argv[1])
print("holding", flush=True)
sys.stdin.read()
"""
PRIME = "def is_prime(n):\n    return n > 1 and all(n % d for d in range(2, int(n**0.5) + 1))\n"


@pytest.fixture(scope="module")
def memory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CoderMemory]:
    path = tmp_path_factory.mktemp("coder") / "qdrant-coder"
    yield CoderMemory(MiniLMEmbedder(), VectorStore(path=path))
    close_local_clients(path)


def test_an_accepted_solution_is_recalled_for_a_paraphrase_and_not_for_another_topic(
    memory: CoderMemory,
) -> None:
    memory.remember(
        "Write a function that tells whether n is a prime number", PRIME, "python", quality_score=1
    )
    found = memory.recall("implement a primality test for an integer", "python")
    assert found
    assert found[0]["code"] == PRIME
    assert found[0]["score"] >= 0.5
    assert memory.recall("parse a CSV file of invoices into rows", "python") == []
    assert memory.recall("implement a primality test for an integer", "rust") == []


def test_the_same_solution_stored_twice_is_one_point(memory: CoderMemory) -> None:
    first = memory.remember("add two numbers", "def add(a, b):\n    return a + b\n", "python",
                            quality_score=0.9)  # fmt: skip
    again = memory.remember("add two numbers", "def add(a, b):\n    return a + b\n", "python",
                            quality_score=0.9)  # fmt: skip
    assert first == again


def test_the_coder_shows_the_model_past_solutions_and_stores_its_accepted_one(
    memory: CoderMemory, fake_llm: FakeLLM
) -> None:
    fake_llm.script(
        [
            "```python\ndef fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n```",
            "```python\ndef fibonacci(k):\n"
            "    return k if k < 2 else fibonacci(k - 1) + fibonacci(k - 2)\n```",
        ]
    )
    with OpenAIChatClient(fake_llm.base_url, model="fake") as client:
        ctx = ArmContext(
            task_id="t", step_id="s", attempt=1, goal="", llm=client,
            services={"coder_memory": memory},
        )  # fmt: skip
        first = CoderArm().run({"instruction": "Write a recursive Fibonacci function"}, ctx)
        second = CoderArm().run({"instruction": "Compute Fibonacci numbers recursively"}, ctx)
    assert first.output["memory"] == {"recalled": 0, "stored": True}
    assert second.output["memory"]["recalled"] >= 1
    prompt = fake_llm.chat_requests[1]["messages"][1]["content"]
    assert "Similar solutions accepted before" in prompt
    assert "def fib(n):" in prompt


def test_when_another_process_holds_its_memory_the_coder_still_answers_and_says_so(
    fake_llm: FakeLLM, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path, memory=MemorySettings(qdrant_path=tmp_path / "q"))
    holder = subprocess.Popen(  # a second coder process in local mode, say
        [sys.executable, "-c", HOLD, str(tmp_path / "q-coder")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "holding"
        fake_llm.script([f"```python\n{PRIME}```"])
        with OpenAIChatClient(fake_llm.base_url, model="fake") as client:
            ctx = ArmContext(
                task_id="t", step_id="s", attempt=1, goal="", llm=client,
                services={"coder_memory": LazyCoderMemory(settings)},
            )  # fmt: skip
            out = CoderArm().run({"instruction": "write is_prime"}, ctx).output
    finally:
        holder.kill()
        holder.wait(10)
    assert out["code"].startswith("def is_prime")
    assert out["memory"] == {"recalled": 0, "stored": False}
    assert any("episodic memory unavailable" in w for w in out["warnings"])


# -- the Redis hand-off ------------------------------------------------------------------------


@pytest.fixture
def handoff() -> Iterator[Handoff]:
    services.require_redis()
    client = redis.Redis.from_url(f"{services.REDIS_URL.rsplit('/', 1)[0]}/14")
    client.flushdb()
    yield Handoff(Cache(client), ttl_seconds=60)
    client.flushdb()
    client.close()


def test_a_hand_off_key_is_the_sha256_of_its_payload_under_the_writers_namespace(
    handoff: Handoff,
) -> None:
    payload = {"code": PRIME, "language": "python"}
    key = handoff.put("coder", "call", payload)
    assert key == f"octollm:arm:coder:call:{stable_key(payload)}"
    assert handoff.put("coder", "call", dict(reversed(payload.items()))) == key
    assert handoff.get(key) == payload


def test_a_hand_off_expires_and_is_cleared_by_pattern(handoff: Handoff) -> None:
    key = handoff.put("coder", "call", {"x": 1}, ttl=1)
    other = handoff.put("judge", "call", {"x": 1})
    assert 0 < (Cache(handoff._cache._redis).ttl(key) or 0) <= 1
    assert handoff.clear("coder") == 1
    assert handoff.get(key) is None
    assert handoff.get(other) == {"x": 1}


def test_a_hand_off_reader_only_reads_hand_off_keys(handoff: Handoff) -> None:
    with pytest.raises(InvalidInput):
        handoff.get("octollm:events:task:secret")
