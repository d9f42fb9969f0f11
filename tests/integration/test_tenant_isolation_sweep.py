"""The tenant-isolation sweep (issue 11), on real workers with the scripted LLM server.

Tenant A seeds one unique marker into every store a later task could surface it from: the
coder's episodic memory (A's coder step, accepted by the judge it calls through the hand-off),
the event streams and the ``code.generated -> judge`` reaction, the knowledge graph, the cache,
and the arm registry (``POST /registry/arms`` with A's key). Tenant B then does everything that
would surface it: a coder task with a near-identical instruction, a graph walk and a cache read,
the arm listing, its task's event stream over SSE, its webhook. The marker must not reach B's
prompts (the scripted LLM server records each one), outputs, events, webhooks or API answers.

A control proves each channel is live: A's own second, similar task *does* get A's solution in
its prompt. The retriever's knowledge base has its own test (it depends on the knowledge
helper's scoping of ``memory/knowledge.py``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from octollm.config.observability import WebhookSettings
from octollm.contracts import TaskContract
from octollm.memory.cache import Cache
from octollm.orchestrator.engine import lifecycle
from octollm.store.graph import KnowledgeGraph
from octollm.webhooks import registry as webhook_registry
from octollm.webhooks.signing import new_secret
from tests.support.apiserver import headers, inproc_client, make_key
from tests.support.fake_llm import FakeLLM
from tests.support.stack import LiveStack, live_stack, make_runtime, wait_for_task, wait_until
from tests.support.streams import stream_entries
from tests.support.webhook_receiver import WebhookReceiver, webhook_receiver

MARKER = f"ZQX{uuid.uuid4().hex[:10]}MARK"
A_INSTRUCTION = "Write a Python function reverse_words(sentence) that reverses the word order"
A_AGAIN = "Write a Python function that reverses the order of the words in a sentence"
B_INSTRUCTION = "Write a Python function reverse_words(text) that reverses the order of words"
EVENT_TYPES = ["task.completed", "code.generated", "validation.complete", "step.succeeded"]


def reply(request: dict[str, Any]) -> str:
    """A's first instruction gets code carrying the marker; everything else plain code."""
    last = str(request["messages"][-1]["content"])
    if A_INSTRUCTION in last and "Similar solutions" not in last:
        body = f"    # {MARKER}\n    return ' '.join(reversed(sentence.split()))\n"
        return f"```python\ndef reverse_words(sentence):\n{body}```\nReverses words."
    return (
        "```python\ndef reverse_words(text):\n    return ' '.join(text.split()[::-1])\n```\n"
        "Reverses words."
    )


def coder_task(rt: Any, tenant: str, instruction: str) -> str:
    step = {"instruction": instruction, "language": "python", "request_type": "generate"}
    plan = {"steps": [{"step_id": "code", "arm": "coder", "action": "write it", "input": step}]}
    task = lifecycle.submit(rt, TaskContract(goal=instruction, plan=plan), tenant=tenant)
    row = wait_for_task(rt, task.id, timeout=120)
    assert row.status == "completed", row.error
    return task.id


def stream_text(stack: LiveStack, task_id: str) -> str:
    return "\n".join(repr(f) for _, f in stream_entries(stack.redis(), task_id))


def prompts_since(llm: FakeLLM, start: int) -> list[str]:
    return [json.dumps(r["messages"]) for r in llm.chat_requests[start:]]


@pytest.fixture
def llm() -> Iterator[FakeLLM]:
    with FakeLLM(reply) as server:
        yield server


@pytest.fixture
def receivers() -> Iterator[tuple[WebhookReceiver, WebhookReceiver]]:
    with webhook_receiver() as a, webhook_receiver() as b:
        yield a, b


@pytest.fixture
def stack(
    tmp_path: Path, llm: FakeLLM, receivers: tuple[WebhookReceiver, WebhookReceiver]
) -> Iterator[LiveStack]:
    allow = json.dumps([r.host_port for r in receivers])
    env = {
        "OCTOLLM_LLM__BASE_URL": llm.base_url,
        "OCTOLLM_LLM__MODEL": "fake-model",
        "OCTOLLM_WEBHOOKS__ALLOWLIST": allow,
        "OCTOLLM_EVENTS__RECLAIM_IDLE_SECONDS": "3",
    }
    with live_stack(tmp_path, **env) as live:
        yield live


def test_nothing_tenant_a_stored_reaches_tenant_b(
    stack: LiveStack, llm: FakeLLM, receivers: tuple[WebhookReceiver, WebhookReceiver]
) -> None:
    rt = make_runtime(stack)
    recv_a, recv_b = receivers
    allow = WebhookSettings(allowlist=[recv_a.host_port, recv_b.host_port])
    settings = stack.settings().model_copy(update={"webhooks": allow})
    for tenant, recv in (("tenant-a", recv_a), ("tenant-b", recv_b)):
        webhook_registry.register(
            rt.db, tenant, recv.url, EVENT_TYPES, new_secret(), settings=settings
        )
    stack.start_fleet(["orchestrator", "coder", "judge"])
    stack.start_worker(["webhooks"], concurrency=2)
    key_a = make_key(stack, "tenant-a", ["arm:list", "arm:register", "task:read"])
    key_b = make_key(stack, "tenant-b", ["arm:list", "arm:register", "task:read"])
    try:
        # -- tenant A seeds the marker everywhere ----------------------------------------
        a1 = coder_task(rt, "tenant-a", A_INSTRUCTION)
        with rt.db.session() as session:
            from octollm.store import steps as step_repo

            a1_out = step_repo.outputs(session, a1, ["code"])["code"]
        assert MARKER in a1_out["code"]
        assert a1_out["memory"]["stored"] is True
        wait_until(lambda: "validation.complete" in stream_text(stack, a1), 60, "A's verdict")
        entity = KnowledgeGraph(rt.db, tenant="tenant-a").add_entity("secret", MARKER)
        Cache(stack.redis()).for_tenant("tenant-a").set("arm", "result", "reverse", MARKER)
        with inproc_client(stack) as client:
            registered = client.post(
                "/registry/arms",
                json={"name": "executor", "capabilities": ["run"], "description": MARKER},
                headers=headers(key_a),
            )
            assert registered.status_code == 201, registered.text
            a_arms = client.get("/api/v1/arms", headers=headers(key_a)).text
        assert MARKER in a_arms, "A sees its own registration"
        # The control: A's own similar task is shown A's accepted solution.
        before_control = len(llm.chat_requests)
        coder_task(rt, "tenant-a", A_AGAIN)
        assert any(MARKER in p for p in prompts_since(llm, before_control)), (
            "A's memory must surface for A, or the sweep proves nothing"
        )

        # -- tenant B does everything that could surface it ------------------------------
        start = len(llm.chat_requests)
        b1 = coder_task(rt, "tenant-b", B_INSTRUCTION)
        wait_until(lambda: "validation.complete" in stream_text(stack, b1), 60, "B's verdict")
        b_prompts = prompts_since(llm, start)
        assert b_prompts, "B's coder asked the model"
        assert all(MARKER not in p for p in b_prompts)
        with rt.db.session() as session:
            from octollm.store import tasks as task_repo

            b_row = task_repo.get(session, b1)
            assert b_row is not None
            assert MARKER not in json.dumps(b_row.result, default=str)
        assert MARKER not in stream_text(stack, b1)

        graph_b = KnowledgeGraph(rt.db, tenant="tenant-b")
        assert graph_b.get_entity(entity.id) is None
        assert Cache(stack.redis()).for_tenant("tenant-b").get("arm", "result", "reverse") is None

        with inproc_client(stack) as client:
            answers = [
                client.get("/api/v1/arms", headers=headers(key_b)),
                client.get("/api/v1/tasks", headers=headers(key_b)),
                client.get(f"/api/v1/tasks/{b1}", headers=headers(key_b)),
                client.get(f"/api/v1/tasks/{b1}/events", headers=headers(key_b)),
                client.get(f"/api/v1/tasks/{a1}", headers=headers(key_b)),
                client.get(f"/api/v1/tasks/{a1}/events", headers=headers(key_b)),
            ]
        assert [r.status_code for r in answers] == [200, 200, 200, 200, 404, 404]
        arms_b = {a["name"]: a for a in answers[0].json()["arms"]}
        assert arms_b["executor"]["description"] != MARKER
        assert "event: task.completed" in answers[3].text, "the SSE stream carried B's own events"
        for answer in answers:
            assert MARKER not in answer.text

        wait_until(
            lambda: any(b1.encode() in r.body for r in recv_b.successes()), 60, "B's webhooks"
        )
        assert all(MARKER.encode() not in r.body for r in recv_b.requests)
        assert all(a1.encode() not in r.body for r in recv_b.requests)
        # The hand-offs the coder left for its judge stay in each tenant's own namespace.
        client = stack.redis()
        assert list(client.scan_iter(match="octollm:tenant:tenant-a:handoff:coder:call:*"))
        for key in client.scan_iter(match="octollm:tenant:tenant-b:*"):
            if client.type(key) == b"string":
                assert MARKER.encode() not in (client.get(key) or b"")
    finally:
        rt.db.dispose()


def test_a_document_tenant_a_ingested_is_not_found_by_tenant_bs_search(
    stack: LiveStack, llm: FakeLLM
) -> None:
    """Depends on the knowledge helper's tenant scoping of the retriever's stores."""
    rt = make_runtime(stack)
    # B's searches find nothing, so the retriever asks for a replan (planner) and the new plan
    # ends with a judge step.
    stack.start_fleet(["orchestrator", "retriever", "planner", "judge"])
    try:
        doc = {"source": "a-notes.md", "text": f"The launch code name is {MARKER}. " * 3}
        ingest = {"op": "ingest", "documents": [doc]}
        plan_a = {"steps": [{"step_id": "ing", "arm": "retriever", "action": "ingest",
                             "input": ingest}]}  # fmt: skip
        a = lifecycle.submit(rt, TaskContract(goal="ingest notes", plan=plan_a), tenant="tenant-a")
        assert wait_for_task(rt, a.id, timeout=120).status == "completed"
        for method in ("hybrid", "keyword", "vector"):
            search = {"op": "search", "query": f"launch code name {MARKER}", "method": method}
            plan_b = {"steps": [{"step_id": "find", "arm": "retriever", "action": "search",
                                 "input": search}]}  # fmt: skip
            b = lifecycle.submit(
                rt, TaskContract(goal=f"search {method}", plan=plan_b), tenant="tenant-b"
            )
            # Nothing of B's matches: an honest failure ("no sources") after the replan.
            row = wait_for_task(rt, b.id, timeout=120)
            assert row.status in ("completed", "failed"), row.status
            with rt.db.session() as session:
                from octollm.store import steps as step_repo

                ids = [r.step_id for r in step_repo.for_task(session, b.id)]
                outputs = step_repo.outputs(session, b.id, ids)
            found = [r for out in outputs.values() for r in (out or {}).get("results") or []]
            assert "find" in outputs, (ids, row.error)
            # B's own query names the marker; what must not come back is A's document.
            assert all(MARKER not in r["content"] for r in found), method
            assert all(r.get("source") != "a-notes.md" for r in found), method
    finally:
        rt.db.dispose()
