"""The retriever's knowledge base is tenant-scoped by construction.

In process (real all-MiniLM-L6-v2, BM25, and each vector backend: Qdrant local mode and
pgvector): one engine, two tenant handles. On workers (each backend): tenant A's task ingests a
document with a unique marker through a real retriever pool; tenant B's task searches for the
marker there and gets nothing of it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from octollm.arms.base import ArmContext
from octollm.arms.boundary import call
from octollm.arms.retriever import RetrieverArm
from octollm.contracts import TaskContract
from octollm.errors import PermanentError
from octollm.memory.embeddings import MiniLMEmbedder
from octollm.memory.knowledge import SHARED_CORPUS, QdrantKnowledgeBase
from octollm.memory.vectors import VectorStore, close_local_clients
from octollm.orchestrator.engine import lifecycle
from octollm.store import steps as step_repo
from tests.support.stack import live_stack, make_runtime, wait_for_task
from tests.support.vectors import BACKENDS, pgvector_store

MARKER = "zorblax" + uuid.uuid4().hex[:8]
SECRET = f"Tenant A's launch code word is {MARKER}. Only tenant A may ever read it."


def _ctx(kb: object) -> ArmContext:
    return ArmContext(task_id="t", step_id="s", attempt=1, goal="g", services={"knowledge": kb})


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder()


@pytest.fixture(scope="module", params=BACKENDS)
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, embedder: Any
) -> Iterator[QdrantKnowledgeBase]:
    opted = frozenset({"opted"})
    if request.param == "pgvector":
        for store in pgvector_store():
            yield QdrantKnowledgeBase(embedder, store, shared_corpus_tenants=opted)
        return
    path = tmp_path_factory.mktemp("kb") / "qdrant"
    yield QdrantKnowledgeBase(embedder, VectorStore(path=path), shared_corpus_tenants=opted)
    close_local_clients(path)


def _ingest(kb: object, source: str, text: str, **metadata: Any) -> dict[str, Any]:
    docs = [{"source": source, "text": text, "metadata": metadata}]
    return call(RetrieverArm(), {"op": "ingest", "documents": docs}, _ctx(kb)).output


def _search(kb: object, query: str, method: str = "hybrid") -> list[dict[str, Any]]:
    output = call(RetrieverArm(), {"query": query, "method": method}, _ctx(kb)).output
    results: list[dict[str, Any]] = output["results"]
    return results


@pytest.mark.parametrize("method", ["vector", "keyword", "hybrid"])
def test_tenant_b_searching_for_tenant_as_marker_finds_nothing_of_it(engine, method) -> None:
    _ingest(engine.for_tenant("tenant-a"), "a/secret.md", SECRET)
    _ingest(engine.for_tenant("tenant-b"), "b/notes.md", "Tenant B keeps notes about gardening.")
    seen_by_b = _search(engine.for_tenant("tenant-b"), f"launch code word {MARKER}", method)
    assert all(MARKER not in r["content"] for r in seen_by_b)
    assert all(r["source"] != "a/secret.md" for r in seen_by_b)
    seen_by_a = _search(engine.for_tenant("tenant-a"), f"launch code word {MARKER}", method)
    assert seen_by_a
    assert MARKER in seen_by_a[0]["content"]


def test_a_filter_naming_a_tenant_cannot_widen_a_search(engine) -> None:
    _ingest(engine.for_tenant("tenant-a"), "a/secret.md", SECRET)
    b = engine.for_tenant("tenant-b")
    for filters in (
        {"tenant": "tenant-a"},
        {"metadata.tenant": "tenant-a"},
        {"source": "a/secret.md"},
    ):
        output = call(RetrieverArm(), {"query": MARKER, "filters": filters}, _ctx(b)).output
        assert output["results"] == []


def test_the_same_document_ingested_by_two_tenants_stays_two_documents(engine) -> None:
    text = "The shared handbook says the office closes at six."
    _ingest(engine.for_tenant("tenant-c"), "handbook.md", text)
    _ingest(engine.for_tenant("tenant-d"), "handbook.md", text)
    # D replaces its own copy; C's copy is untouched.
    _ingest(engine.for_tenant("tenant-d"), "handbook.md", "D rewrote its handbook entirely.")
    c_hits = _search(engine.for_tenant("tenant-c"), "when does the office close", "keyword")
    d_hits = _search(engine.for_tenant("tenant-d"), "when does the office close", "keyword")
    assert [h["content"] for h in c_hits] == [text]
    assert all("office closes" not in h["content"] for h in d_hits)


def test_the_bare_engine_is_not_a_knowledge_base_an_arm_can_use(engine) -> None:
    with pytest.raises(PermanentError, match="does not implement KnowledgeBase"):
        call(RetrieverArm(), {"query": "anything"}, _ctx(engine))


def test_the_shared_corpus_is_read_only_by_tenants_that_opted_in(engine) -> None:
    curated = "The curated glossary defines a quuxification as a reversible merge."
    _ingest(engine.for_tenant(SHARED_CORPUS), "glossary.md", curated)
    opted = _search(engine.for_tenant("opted"), "what is a quuxification", "keyword")
    other = _search(engine.for_tenant("tenant-e"), "what is a quuxification", "keyword")
    assert [h["source"] for h in opted] == ["glossary.md"]
    assert other == []


def test_forgetting_a_document_deletes_only_the_callers_chunks(engine) -> None:
    text = "Quarterly figures: the widget line grew by nine percent."
    _ingest(engine.for_tenant("tenant-f"), "q.md", text, document_id="doc-1", title="Q3")
    _ingest(engine.for_tenant("tenant-g"), "q.md", text, document_id="doc-1", title="Q3")
    out = call(
        RetrieverArm(),
        {"op": "forget", "document_ids": ["doc-1"]},
        _ctx(engine.for_tenant("tenant-f")),
    ).output
    assert out["chunks_deleted"] == 1
    assert _search(engine.for_tenant("tenant-f"), "widget line grew", "keyword") == []
    assert _search(engine.for_tenant("tenant-f"), "widget line grew", "vector") == []
    kept = _search(engine.for_tenant("tenant-g"), "widget line grew", "keyword")
    assert kept[0]["citation"] == {
        "source": "q.md",
        "start": 0,
        "end": len(text),
        "document_id": "doc-1",
        "title": "Q3",
        "chunk": 0,
    }


# -- on real retriever workers --------------------------------------------------------------


def _retriever_task(goal: str, step_input: dict[str, Any]) -> TaskContract:
    plan = {"steps": [{"step_id": "r", "arm": "retriever", "action": goal, "input": step_input}]}
    return TaskContract(goal=goal, plan=plan)


@pytest.mark.parametrize("backend", BACKENDS)
def test_tenant_b_cannot_find_tenant_as_marker_through_the_retriever_pool(
    tmp_path: Path, backend: str
) -> None:
    ingest = {"op": "ingest", "documents": [{"source": "a/secret.md", "text": SECRET}]}
    search = {"query": f"What is the launch code word {MARKER}?", "method": "hybrid"}
    with live_stack(tmp_path, OCTOLLM_MEMORY__VECTOR_BACKEND=backend) as stack:
        # B's empty search asks for a replan (planner); the new plan ends with a judge
        stack.start_fleet(["orchestrator", "retriever", "planner", "judge"])
        rt = make_runtime(stack)
        try:
            a = lifecycle.submit(rt, _retriever_task("store A's secret", ingest), tenant="A")
            assert wait_for_task(rt, a.id, timeout=120).status == "completed"
            b = lifecycle.submit(rt, _retriever_task("search for the marker", search), tenant="B")
            b_row = wait_for_task(rt, b.id, timeout=120)
            a2 = lifecycle.submit(rt, _retriever_task("search own secret", search), tenant="A")
            a_row = wait_for_task(rt, a2.id, timeout=120)
            with rt.db.session() as session:
                b_ids = [r.step_id for r in step_repo.for_task(session, b.id)]
                b_out = step_repo.outputs(session, b.id, b_ids)
        finally:
            rt.db.dispose()
    # B finds nothing (an honest failure after its replan); B's own query holds MARKER
    assert b_row.status in ("completed", "failed")
    assert "Only tenant A may ever read it" not in str(b_out)
    assert b_out["r"]["results"] == []
    assert MARKER in a_row.result["steps"]["r"]["results"][0]["content"]
