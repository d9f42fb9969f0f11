"""The retriever arm end to end: real all-MiniLM-L6-v2, BM25, and each vector backend (Qdrant
local mode, pgvector in PostgreSQL)."""

from __future__ import annotations

import importlib.util
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from octollm.arms.base import ArmContext
from octollm.arms.boundary import call
from octollm.arms.retrieval.knowledge import KnowledgeBase
from octollm.arms.retriever import RetrieverArm
from octollm.errors import InvalidInput, PermanentError
from octollm.memory.embeddings import MiniLMEmbedder
from octollm.memory.knowledge import QdrantKnowledgeBase
from octollm.memory.vectors import Vectors, VectorStore, close_local_clients
from tests.support.vectors import BACKENDS, pgvector_store

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "retrieval_quality.py"

DOCS: list[dict[str, Any]] = [
    {
        "source": "guide/cats.md",
        "text": "Cats are small carnivorous mammals kept as pets.\n\n"
        "A cat sleeps for most of the day and hunts at dusk. Kittens open their eyes after "
        "about a week.",
        "metadata": {"topic": "animals", "year": 2019, "tags": ["pets"]},
    },
    {
        "source": "guide/rust.md",
        "text": "Rust guarantees memory safety through ownership and borrowing, without a "
        "garbage collector. The borrow checker rejects data races at compile time.",
        "metadata": {"topic": "programming", "year": 2021, "tags": ["languages"]},
    },
    {
        "source": "guide/celery.md",
        "text": "Celery workers consume tasks from a broker such as Redis or RabbitMQ. "
        "The acks_late option acknowledges a message only after the task finished.",
        "metadata": {"topic": "programming", "year": 2023, "tags": ["queues"]},
    },
]


def _context(kb: object | None) -> ArmContext:
    services = {"knowledge": kb} if kb is not None else {}
    return ArmContext(task_id="t", step_id="s", attempt=1, goal="g", services=services)


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder()


@pytest.fixture(scope="module", params=BACKENDS)
def vectors(request, tmp_path_factory) -> Iterator[Vectors]:
    if request.param == "pgvector":
        yield from pgvector_store()
        return
    path = tmp_path_factory.mktemp("retriever") / "qdrant"
    yield VectorStore(path=path)
    close_local_clients(path)


@pytest.fixture(scope="module")
def retriever(embedder, vectors) -> tuple[RetrieverArm, ArmContext]:
    kb: KnowledgeBase = QdrantKnowledgeBase(embedder, vectors).for_tenant("acme")
    arm, ctx = RetrieverArm(), _context(kb)
    out = call(
        arm, {"op": "ingest", "documents": DOCS, "chunk_chars": 200, "overlap_chars": 40}, ctx
    )
    assert out.output["documents"] == 3
    assert out.output["chunks"] >= 3
    return arm, ctx


def search(retriever, **fields: Any) -> dict[str, Any]:
    arm, ctx = retriever
    return call(arm, fields, ctx).output


def test_the_arm_declares_its_name_and_capabilities():
    arm = RetrieverArm()
    assert arm.name == "retriever"
    assert arm.capabilities == {
        "vector_search",
        "keyword_search",
        "rag_retrieval",
        "citation_generation",
    }


def test_a_paraphrased_question_finds_the_right_document_with_an_exact_citation(retriever):
    out = search(
        retriever, query="Which language prevents memory bugs without GC?", method="vector"
    )
    top = out["results"][0]
    assert top["source"] == "guide/rust.md"
    assert top["rank"] == 1
    assert 0 < top["relevance_score"] <= 1
    text = next(d["text"] for d in DOCS if d["source"] == "guide/rust.md")
    citation = top["citation"]
    assert text[citation["start"] : citation["end"]] == top["content"]
    assert out["method_used"] == "vector"
    assert out["total_results"] == len(out["results"])
    assert out["citations"][0] == "guide/rust.md"


def test_keyword_search_finds_an_exact_term_with_normalised_scores(retriever):
    out = search(retriever, query="acks_late", method="keyword")
    assert [r["source"] for r in out["results"]] == ["guide/celery.md"]
    assert 0 < out["results"][0]["relevance_score"] <= 1


def test_hybrid_search_reports_where_each_method_ranked_a_result(retriever):
    out = search(retriever, query="broker for celery workers", limit=3)
    assert out["method_used"] == "hybrid"
    top = out["results"][0]
    assert top["source"] == "guide/celery.md"
    assert top["metadata"]["vector_rank"] == 1
    assert top["metadata"]["keyword_rank"] == 1
    assert top["relevance_score"] == pytest.approx(1.0)
    assert [r["rank"] for r in out["results"]] == list(range(1, len(out["results"]) + 1))


def test_filters_restrict_results_by_metadata_and_source(retriever):
    by_topic = search(retriever, query="safety", filters={"topic": "animals"})
    assert {r["source"] for r in by_topic["results"]} == {"guide/cats.md"}
    by_year = search(retriever, query="tasks", method="vector", filters={"year": {"gte": 2022}})
    assert {r["source"] for r in by_year["results"]} == {"guide/celery.md"}
    by_tag = search(retriever, query="pets", method="keyword", filters={"tags": ["languages"]})
    assert by_tag["results"] == []
    by_source = search(retriever, query="memory", filters={"source": ["guide/rust.md"]})
    assert {r["source"] for r in by_source["results"]} == {"guide/rust.md"}


def test_min_relevance_score_and_citations_can_be_asked_for(retriever):
    loose = search(retriever, query="kittens", method="vector", limit=10)
    strict = search(retriever, query="kittens", method="vector", min_relevance_score=0.99)
    assert loose["total_results"] > 0
    assert strict["total_results"] == 0
    bare = search(retriever, query="kittens", include_citations=False)
    assert "citations" not in bare
    assert all("citation" not in r for r in bare["results"])


def test_reingesting_a_source_replaces_its_chunks(retriever):
    arm, ctx = retriever
    doc = {"source": "notes/replace.md", "text": "The first version mentions zeppelins."}
    call(arm, {"op": "ingest", "documents": [doc]}, ctx)
    call(
        arm,
        {"op": "ingest", "documents": [{**doc, "text": "The second version is about gliders."}]},
        ctx,
    )
    zeppelins = search(retriever, query="zeppelins", method="keyword")
    assert zeppelins["results"] == []
    gliders = search(retriever, query="gliders", method="keyword")
    assert [r["source"] for r in gliders["results"]] == ["notes/replace.md"]


def test_the_arm_without_a_knowledge_service_fails_permanently():
    with pytest.raises(PermanentError, match="knowledge service"):
        call(RetrieverArm(), {"query": "anything"}, _context(None))


@pytest.mark.parametrize(
    "bad",
    [
        {"query": ""},
        {"query": "x" * 501},
        {"query": "x", "limit": 0},
        {"query": "x", "limit": 101},
        {"query": "x", "method": "semantic"},
        {"query": "x", "filters": {"bad key": 1}},
        {"op": "delete"},
        {"op": "ingest", "documents": []},
    ],
)
def test_invalid_input_is_rejected_before_any_search(retriever, bad):
    arm, ctx = retriever
    with pytest.raises(InvalidInput):
        call(arm, bad, ctx)


def test_hybrid_recall_at_5_is_at_least_that_of_the_better_single_method(tmp_path):
    spec = importlib.util.spec_from_file_location("retrieval_quality", BENCHMARK)
    assert spec is not None
    assert spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    sys.modules["retrieval_quality"] = bench
    spec.loader.exec_module(bench)
    began = time.monotonic()
    queries = bench.load_queries()
    with bench.retriever(tmp_path) as (arm, ctx):
        assert bench.ingest(arm, ctx, bench.load_corpus()) >= 200
        recall = {m: bench.score(arm, ctx, queries, m).recall_at_5 for m in bench.METHODS}
    assert len(queries) >= 30
    assert recall["hybrid"] >= max(recall["vector"], recall["keyword"]), recall
    assert time.monotonic() - began < 60
