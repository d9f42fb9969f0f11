"""The retriever arm: ingest documents, search them by meaning, by keywords, or both.

Input ``op`` selects the operation (``search`` when absent):

* ``ingest``: ``documents: [{source, text, metadata}]`` -> chunks (paragraphs, then sentences,
  with overlap and character offsets) -> the knowledge service embeds and stores them.
* ``forget``: ``document_ids: [...]`` -> the chunks of those stored documents are deleted.
* ``search``: ``{query, method, limit, filters, min_relevance_score, include_citations}`` ->
  ``{results: [{content, source, relevance_score, rank, metadata, citation}], query,
  method_used, total_results, citations, metadata}``.

``relevance_score`` is 0..1 on the scale of ``method_used``: vector = cosine similarity clamped
at 0; keyword = BM25 over the query's maximum attainable BM25; hybrid = the RRF score
(``HYBRID_RRF_K`` = 10) over its maximum (first in both rankings). Each method fetches
``max(2 * limit, 20)`` candidates; hybrid runs both searches concurrently and fuses them by rank.

Hybrid admits a keyword hit to the fusion only when its keyword relevance is at least
``HYBRID_KEYWORD_FLOOR`` (0.2) and it holds at least ``HYBRID_KEYWORD_COVERAGE`` (0.3) of the
query's information (the idf share of the query terms it contains, ``octollm.memory.keyword``):
a BM25 hit that repeats one common query word ("House", "firearms") is noise that plain RRF
would rank above the best vector hit, while the right hit of an identifier query ("reconciler",
"shedding") covers the rare terms. The floor, the coverage and RRF's ``k`` (10) were chosen by
cross-validation over three corpora of different kinds, prose, an API reference and a help
centre (``benchmarks/retrieval_fusion_cv.py``, docs/benchmarks-retrieval.md). On all their
queries hybrid is at least the better single method on recall@5 and MRR@10 on each corpus;
out of fold it is not everywhere (see the doc).

The arm imports no I/O framework: its store arrives as ``ctx.services["knowledge"]`` (a
``KnowledgeBase``; ``octollm.memory.knowledge`` provides one over Qdrant and BM25). The worker
binds that store to the tenant of the task row before the arm runs: the arm never names a
tenant, and nothing in its input can widen what it reads or writes.

A stored document's chunks carry ``metadata.document_id`` and ``metadata.title``; their
results' citations name the document, its title and the chunk (``retrieval.citation``).
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from octollm.arms.base import ArmContext, ArmResult
from octollm.arms.retrieval.chunking import chunk_text
from octollm.arms.retrieval.citation import cite, cited_sources
from octollm.arms.retrieval.fusion import reciprocal_rank_fusion
from octollm.arms.retrieval.knowledge import Chunk, KnowledgeBase, ScoredChunk
from octollm.contracts.arm_io import (
    RetrieverForgetInput,
    RetrieverForgetOutput,
    RetrieverIngestInput,
    RetrieverIngestOutput,
    RetrieverInput,
    RetrieverOutput,
    RetrieverSearchInput,
    RetrieverSearchOutput,
)
from octollm.errors import PermanentError

_CHUNK_NAMESPACE = uuid.UUID("9b0b3c4e-2f57-4d35-9f5e-6a2f1c0de0a1")
MIN_CANDIDATES = 20
HYBRID_KEYWORD_FLOOR = 0.2
HYBRID_KEYWORD_COVERAGE = 0.3
HYBRID_RRF_K = 10


def chunk_id(
    collection: str, source: str, start: int, end: int, text: str, document_id: str = ""
) -> str:
    """A stable chunk id: re-ingesting the same text overwrites instead of duplicating.

    Two stored documents (``document_id``) with the same name and text stay two documents.
    """
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]
    key = f"{collection}\n{source}\n{start}:{end}\n{digest}"
    return str(uuid.uuid5(_CHUNK_NAMESPACE, f"{key}\n{document_id}" if document_id else key))


def _knowledge(ctx: ArmContext) -> KnowledgeBase:
    kb = ctx.services.get("knowledge")
    if kb is None:
        raise PermanentError(
            "the retriever arm needs a knowledge service: put a KnowledgeBase (e.g. "
            "octollm.memory.knowledge.QdrantKnowledgeBase) in ctx.services['knowledge']"
        )
    if not isinstance(kb, KnowledgeBase):
        raise PermanentError("ctx.services['knowledge'] does not implement KnowledgeBase")
    return kb


class RetrieverArm:
    name = "retriever"
    capabilities = frozenset(
        {"vector_search", "keyword_search", "rag_retrieval", "citation_generation"}
    )

    input_model = RetrieverInput
    output_model = RetrieverOutput

    def run(self, input: RetrieverInput, ctx: ArmContext) -> ArmResult[RetrieverOutput]:
        # The input model drops what the orchestrator adds to every step's input (its action,
        # the plan's acceptance criteria, ``_``-prefixed bookkeeping) and picks the op.
        request = input.root
        if isinstance(request, RetrieverIngestInput):
            return self.ingest(request, ctx)
        if isinstance(request, RetrieverForgetInput):
            return self.forget(request, ctx)
        return self.search(request, ctx)

    # -- ingest -------------------------------------------------------------------------

    def ingest(self, request: RetrieverIngestInput, ctx: ArmContext) -> ArmResult[RetrieverOutput]:
        kb = _knowledge(ctx)
        overlap = min(request.overlap_chars, request.chunk_chars // 2 - 1)
        chunks: list[Chunk] = []
        for document in request.documents:
            ctx.check_cancelled()
            ctx.ensure_time()
            spans = chunk_text(document.text, max_chars=request.chunk_chars, overlap_chars=overlap)
            chunks.extend(
                Chunk(
                    id=chunk_id(
                        request.collection,
                        document.source,
                        s.start,
                        s.end,
                        s.text,
                        str(document.metadata.get("document_id") or ""),
                    ),
                    text=s.text,
                    source=document.source,
                    start=s.start,
                    end=s.end,
                    index=i,
                    metadata=dict(document.metadata),
                )
                for i, s in enumerate(spans)
            )
        stored = kb.ingest(request.collection, chunks, replace_sources=request.replace)
        output = {
            "collection": request.collection,
            "documents": len(request.documents),
            "chunks": stored,
            "sources": sorted({d.source for d in request.documents}),
            "embedding_model": kb.embedding_model,
        }
        return ArmResult(RetrieverOutput(RetrieverIngestOutput.model_validate(output)))

    def forget(self, request: RetrieverForgetInput, ctx: ArmContext) -> ArmResult[RetrieverOutput]:
        kb = _knowledge(ctx)
        forget = getattr(kb, "forget_documents", None)
        if forget is None:
            raise PermanentError("this knowledge service cannot delete documents")
        removed = int(forget(request.collection, request.document_ids))
        output = {
            "collection": request.collection,
            "document_ids": list(request.document_ids),
            "chunks_deleted": removed,
        }
        return ArmResult(RetrieverOutput(RetrieverForgetOutput.model_validate(output)))

    # -- search -------------------------------------------------------------------------

    def search(self, request: RetrieverSearchInput, ctx: ArmContext) -> ArmResult[RetrieverOutput]:
        kb = _knowledge(ctx)
        ctx.check_cancelled()
        ctx.ensure_time()
        began = time.perf_counter()
        candidates = max(2 * request.limit, MIN_CANDIDATES)
        args = (request.collection, request.query)
        kwargs: dict[str, Any] = {"limit": candidates, "filters": request.filters}
        ranked: list[tuple[ScoredChunk, float, dict[str, Any]]]
        if request.method == "vector":
            ranked = [(hit, hit.relevance, {}) for hit in kb.vector_search(*args, **kwargs)]
        elif request.method == "keyword":
            ranked = [(hit, hit.relevance, {}) for hit in kb.keyword_search(*args, **kwargs)]
        else:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="retriever") as pool:
                vector_future = pool.submit(kb.vector_search, *args, **kwargs)
                keyword = kb.keyword_search(*args, **kwargs)
                vector = vector_future.result()
            ranked = _fuse(vector, keyword)
        ctx.ensure_time()
        kept = [item for item in ranked if item[1] >= request.min_relevance_score][: request.limit]
        results = [
            self._result(rank, hit, relevance, extra, request.include_citations)
            for rank, (hit, relevance, extra) in enumerate(kept, start=1)
        ]
        output: dict[str, Any] = {
            "results": results,
            "query": request.query,
            "method_used": request.method,
            "total_results": len(results),
            "metadata": {
                "search_duration_ms": round((time.perf_counter() - began) * 1000, 2),
                "vector_model": kb.embedding_model,
                "collection": request.collection,
                "candidates_per_method": candidates,
                "reranked": False,
            },
        }
        if request.include_citations:
            output["citations"] = cited_sources(r["citation"] for r in results)
        top = results[0]["relevance_score"] if results else 0.0
        warnings = [] if results else ["no results above min_relevance_score"]
        return ArmResult(
            output=RetrieverOutput(RetrieverSearchOutput.model_validate(output)),
            confidence=float(top),
            warnings=warnings,
            requires_replanning=not results,
            replan_reason=None if results else f"no sources found for {request.query[:200]!r}",
        )

    @staticmethod
    def _result(
        rank: int,
        hit: ScoredChunk,
        relevance: float,
        extra: dict[str, Any],
        with_citation: bool,
    ) -> dict[str, Any]:
        metadata = {
            **hit.metadata,
            "chunk_id": hit.id,
            "chunk_index": hit.index,
            "start": hit.start,
            "end": hit.end,
            **extra,
        }
        result: dict[str, Any] = {
            "content": hit.text,
            "source": hit.source,
            "relevance_score": round(min(1.0, max(0.0, relevance)), 4),
            "rank": rank,
            "metadata": metadata,
        }
        if with_citation:
            result["citation"] = cite(
                hit.source, hit.start, hit.end, chunk=hit.index, metadata=hit.metadata
            )
        return result


def _fuse(
    vector: Sequence[ScoredChunk],
    keyword: Sequence[ScoredChunk],
    *,
    floor: float = HYBRID_KEYWORD_FLOOR,
    k: int = HYBRID_RRF_K,
    coverage: float = HYBRID_KEYWORD_COVERAGE,
) -> list[tuple[ScoredChunk, float, dict[str, Any]]]:
    """RRF over chunk ids; each result says where each method ranked it. ``floor``, ``k`` and
    ``coverage`` are parameters so the benchmark can cross-validate them
    (benchmarks/retrieval_fusion_cv.py)."""
    keyword = [hit for hit in keyword if hit.relevance >= floor and hit.coverage >= coverage]
    by_id: dict[str, ScoredChunk] = {}
    for hit in (*vector, *keyword):
        by_id.setdefault(hit.id, hit)
    fused = reciprocal_rank_fusion([[h.id for h in vector], [h.id for h in keyword]], k=k)
    return [
        (
            by_id[f.key],
            f.relevance,
            {"vector_rank": f.ranks[0], "keyword_rank": f.ranks[1], "rrf_score": round(f.score, 6)},
        )
        for f in fused
    ]
