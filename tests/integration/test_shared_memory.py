"""Shared memory between arms: the coder's episodic memory (Qdrant ``coder_memory``, real
all-MiniLM-L6-v2 embeddings, local mode) and the Redis hand-off (``octollm:arm:{arm}:{kind}:
{sha256}``, own Redis DB 14)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from octollm.arms.base import ArmContext
from octollm.arms.boundary import call
from octollm.arms.coder import CoderArm
from octollm.config import Settings
from octollm.config.memory import MemorySettings
from octollm.errors import InvalidInput
from octollm.llm import OpenAIChatClient
from octollm.memory.cache import Cache, stable_key
from octollm.memory.embeddings import MiniLMEmbedder
from octollm.memory.episodes import SHARED_TENANT, CoderMemory
from octollm.memory.handoff import Handoff
from octollm.memory.vectors import VectorStore, close_local_clients
from octollm.orchestrator.calls import tenancy
from octollm.orchestrator.calls.collaborators import LazyCoderMemory, TenantCoderMemory
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
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MiniLMEmbedder, VectorStore]]:
    path = tmp_path_factory.mktemp("coder") / "qdrant-coder"
    yield MiniLMEmbedder(), VectorStore(path=path)
    close_local_clients(path)


@pytest.fixture(scope="module")
def memory(store: tuple[MiniLMEmbedder, VectorStore]) -> CoderMemory:
    return CoderMemory(*store, tenant="tenant-a")


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


def test_a_solution_one_tenant_stored_is_never_recalled_for_another(
    store: tuple[MiniLMEmbedder, VectorStore],
) -> None:
    marker = "MARKER_7f3a_tenant_a_secret"
    alice = CoderMemory(*store, tenant="alice")
    bob = CoderMemory(*store, tenant="bob")
    instruction = "Write a function that reverses a linked list in place"
    code = f"def reverse(head):  # {marker}\n    return head\n"
    alice.remember(instruction, code, "python", quality_score=1)
    assert alice.recall(instruction, "python")[0]["code"] == code
    assert bob.recall(instruction, "python") == []  # the very same instruction
    bob_id = bob.remember(instruction, code, "python", quality_score=1)
    assert bob_id != alice.remember(instruction, code, "python", quality_score=1)


def test_the_shared_corpus_is_recalled_only_by_a_memory_that_opts_in(
    store: tuple[MiniLMEmbedder, VectorStore],
) -> None:
    curated = CoderMemory(*store, tenant=SHARED_TENANT)
    instruction = "Write a function that computes the greatest common divisor"
    curated.remember(instruction, "def gcd(a, b):\n    return a\n", "python", quality_score=1)
    assert CoderMemory(*store, tenant="carol").recall(instruction, "python") == []
    opted_in = CoderMemory(*store, tenant="carol", include_shared=True)
    assert opted_in.recall(instruction, "python")[0]["code"].startswith("def gcd")


def test_a_coder_memory_cannot_be_built_without_its_tenant(
    store: tuple[MiniLMEmbedder, VectorStore],
) -> None:
    with pytest.raises(InvalidInput):
        CoderMemory(*store, tenant="")
    with pytest.raises(TypeError):
        CoderMemory(*store)  # type: ignore[call-arg]


def test_the_step_services_give_the_coder_only_its_tenants_memory(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, memory=MemorySettings(qdrant_path=tmp_path / "q"))
    shared = {"coder_memory": LazyCoderMemory(settings), "arms": ["coder"]}
    bound = tenancy.bind(shared, "dave")
    assert isinstance(bound["coder_memory"], TenantCoderMemory)
    assert bound["coder_memory"].tenant == "dave"
    assert not hasattr(shared["coder_memory"], "recall"), "unbound memory answers nothing"
    with pytest.raises(InvalidInput):
        tenancy.bind(shared, "")


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
        first = call(CoderArm(), {"instruction": "Write a recursive Fibonacci function"}, ctx)
        second = call(CoderArm(), {"instruction": "Compute Fibonacci numbers recursively"}, ctx)
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
                services={"coder_memory": LazyCoderMemory(settings).for_tenant("tenant-a")},
            )  # fmt: skip
            out = call(CoderArm(), {"instruction": "write is_prime"}, ctx).output
    finally:
        holder.kill()
        holder.wait(10)
    assert out["code"].startswith("def is_prime")
    assert out["memory"] == {"recalled": 0, "stored": False}
    assert any("episodic memory unavailable" in w for w in out["warnings"])


# -- the Redis hand-off ------------------------------------------------------------------------


@pytest.fixture
def cache() -> Iterator[Cache]:
    services.require_redis()
    db = os.environ.get("TEST_REDIS_DB", "14")
    client = redis.Redis.from_url(f"{services.REDIS_URL.rsplit('/', 1)[0]}/{db}")
    client.flushdb()
    yield Cache(client)
    client.flushdb()
    client.close()


@pytest.fixture
def handoff(cache: Cache) -> Handoff:
    return Handoff(cache, tenant="tenant-a", ttl_seconds=60)


def test_a_hand_off_key_is_the_sha256_of_its_payload_under_the_tenants_namespace(
    handoff: Handoff,
) -> None:
    payload = {"code": PRIME, "language": "python"}
    key = handoff.put("coder", "call", payload)
    assert key == f"octollm:tenant:tenant-a:handoff:coder:call:{stable_key(payload)}"
    assert handoff.put("coder", "call", dict(reversed(payload.items()))) == key
    assert handoff.get(key) == payload


def test_a_hand_off_expires_and_is_cleared_by_pattern(handoff: Handoff, cache: Cache) -> None:
    key = handoff.put("coder", "call", {"x": 1}, ttl=1)
    other = handoff.put("judge", "call", {"x": 1})
    assert 0 < (cache.ttl(key) or 0) <= 1
    assert handoff.clear("coder") == 1
    assert handoff.get(key) is None
    assert handoff.get(other) == {"x": 1}


def test_a_hand_off_reader_only_reads_hand_off_keys(handoff: Handoff) -> None:
    with pytest.raises(InvalidInput):
        handoff.get("octollm:events:task:secret")


def test_another_tenants_hand_off_cannot_be_read_or_cleared(cache: Cache) -> None:
    alice = Handoff(cache, tenant="alice")
    mallory = Handoff(cache, tenant="mallory")
    key = alice.put("coder", "call", {"code": "MARKER_alice_only"})
    with pytest.raises(InvalidInput):
        mallory.get(key)
    assert mallory.clear("coder") == 0
    assert alice.get(key) == {"code": "MARKER_alice_only"}
    same = mallory.put("coder", "call", {"code": "MARKER_alice_only"})
    assert same != key, "the same payload lands in each tenant's own namespace"


def test_a_tenant_cache_builds_its_own_keys_and_clears_only_its_own(cache: Cache) -> None:
    alice, bob = cache.for_tenant("alice"), cache.for_tenant("bob")
    key = alice.set("arm", "result", "goal-1", {"answer": "MARKER_alice"})
    assert key == "octollm:tenant:alice:arm:result:goal-1"
    assert bob.get("arm", "result", "goal-1") is None
    with pytest.raises(InvalidInput):
        bob.get_key(key)
    bob.set("arm", "result", "goal-1", {"answer": "bob's"})
    assert bob.clear("arm") == 1
    assert alice.get("arm", "result", "goal-1") == {"answer": "MARKER_alice"}
    for bad in ("", "*", "a*b", "x:y", "../t"):
        with pytest.raises(InvalidInput):
            cache.for_tenant(bad)
