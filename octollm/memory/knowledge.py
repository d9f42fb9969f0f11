"""The retriever's knowledge base: an Embedder, Qdrant, and a BM25 index over the same chunks.

It implements ``octollm.arms.retrieval.knowledge.KnowledgeBase`` structurally (memory sits
below arms and does not import it).

**Where the chunks live.** Qdrant holds each chunk once: its vector and a payload
``{text, source, start, end, chunk_index, metadata}``. The BM25 index is *derived*: built per
collection by scrolling those payloads on first keyword search, then kept current by this
object's own ``ingest``. One store, so vectors and keywords cannot disagree about what exists,
no second write that could fail half-way, and the embedded default needs no extra table.
The cost: each process holds its collections' postings in memory (fine for the tens of
thousands of chunks an arm's corpus holds; a corpus of millions wants a search engine).

Against a Qdrant **server** other processes may ingest too: before each keyword search the
exact point count is compared with the index's and the index is rebuilt when they differ.
A replacement that keeps the count equal is seen after ``refresh()``. In **local mode** this
process is the only writer (Qdrant locks the directory), so the index is always current.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from octollm.errors import InvalidInput
from octollm.memory.embeddings import Embedder
from octollm.memory.filters import Filters, check_filters, matches
from octollm.memory.keyword import BM25Index
from octollm.memory.vectors import VectorPoint, VectorStore

_TOP_LEVEL = frozenset({"source"})
_MAX_SOURCES_PER_DELETE = 100


class ChunkInput(Protocol):
    """What ``ingest`` reads from a chunk (the arm's ``Chunk`` has these attributes)."""

    @property
    def id(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def index(self) -> int: ...
    @property
    def metadata(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class SearchHit:
    id: str
    text: str
    source: str
    start: int
    end: int
    index: int
    metadata: dict[str, Any]
    score: float
    relevance: float


def payload_filters(filters: Mapping[str, Any] | None) -> Filters:
    """Caller filters -> payload paths: ``source`` stays, other keys live under ``metadata.``."""
    checked = check_filters(filters)
    return {
        key if key in _TOP_LEVEL or key.startswith("metadata.") else f"metadata.{key}": cond
        for key, cond in checked.items()
    }


def _payload(chunk: ChunkInput) -> dict[str, Any]:
    return {
        "text": chunk.text,
        "source": chunk.source,
        "start": chunk.start,
        "end": chunk.end,
        "chunk_index": chunk.index,
        "metadata": dict(chunk.metadata),
    }


def _hit(point_id: str, payload: Mapping[str, Any], score: float, relevance: float) -> SearchHit:
    return SearchHit(
        id=point_id,
        text=str(payload.get("text", "")),
        source=str(payload.get("source", "")),
        start=int(payload.get("start", 0)),
        end=int(payload.get("end", 0)),
        index=int(payload.get("chunk_index", 0)),
        metadata=dict(payload.get("metadata") or {}),
        score=score,
        relevance=relevance,
    )


@dataclass
class _Keywords:
    """One collection's BM25 index and the payloads it was built from."""

    bm25: BM25Index = field(default_factory=BM25Index)
    payloads: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_source: dict[str, set[str]] = field(default_factory=dict)

    def add(self, point_id: str, payload: dict[str, Any]) -> None:
        self.bm25.add(point_id, str(payload.get("text", "")))
        self.payloads[point_id] = payload
        self.by_source.setdefault(str(payload.get("source", "")), set()).add(point_id)

    def drop_source(self, source: str) -> None:
        for point_id in self.by_source.pop(source, set()):
            self.bm25.remove(point_id)
            self.payloads.pop(point_id, None)


class QdrantKnowledgeBase:
    """Chunks embedded into Qdrant, searchable by cosine and by BM25. Thread-safe."""

    def __init__(self, embedder: Embedder, vectors: VectorStore) -> None:
        if embedder.dim != vectors.dim:
            raise InvalidInput(
                "embedder and vector store disagree on the dimension",
                details={"embedder": embedder.dim, "vectors": vectors.dim},
            )
        self._embedder = embedder
        self._vectors = vectors
        self._keywords: dict[str, _Keywords] = {}
        self._lock = threading.RLock()

    @property
    def embedding_model(self) -> str:
        return self._embedder.model_name

    def ingest(
        self, collection: str, chunks: Sequence[ChunkInput], *, replace_sources: bool = True
    ) -> int:
        """Embed and store ``chunks``; first drop what ``replace_sources`` says to replace."""
        if not chunks:
            return 0
        vectors = self._embedder.embed([c.text for c in chunks])
        points = [VectorPoint(c.id, v, _payload(c)) for c, v in zip(chunks, vectors, strict=True)]
        sources = sorted({c.source for c in chunks})
        with self._lock:
            keywords = self._index(collection)
            if replace_sources:
                for start in range(0, len(sources), _MAX_SOURCES_PER_DELETE):
                    batch = sources[start : start + _MAX_SOURCES_PER_DELETE]
                    self._vectors.delete(collection, {"source": batch})
                for source in sources:
                    keywords.drop_source(source)
            self._vectors.upsert(collection, points)
            for point in points:
                keywords.add(point.id, point.payload)
        return len(points)

    def vector_search(
        self, collection: str, query: str, *, limit: int, filters: Mapping[str, Any]
    ) -> list[SearchHit]:
        checked = payload_filters(filters)
        vector = self._embedder.embed([query])[0]
        hits = self._vectors.search(collection, vector, limit=limit, filters=checked)
        return [_hit(h.id, h.payload, h.score, max(0.0, min(1.0, h.score))) for h in hits]

    def keyword_search(
        self, collection: str, query: str, *, limit: int, filters: Mapping[str, Any]
    ) -> list[SearchHit]:
        checked = payload_filters(filters)
        with self._lock:
            keywords = self._index(collection)
            if not self._vectors.local and self._vectors.count(collection) != len(keywords.bm25):
                keywords = self._rebuild(collection)
            payloads = keywords.payloads
            accept = (lambda pid: matches(payloads[pid], checked)) if checked else None
            found = keywords.bm25.search(query, limit=limit, accept=accept)
            return [_hit(h.doc_id, payloads[h.doc_id], h.score, h.relevance) for h in found]

    def refresh(self, collection: str) -> None:
        """Rebuild ``collection``'s keyword index from Qdrant."""
        with self._lock:
            self._rebuild(collection)

    def _index(self, collection: str) -> _Keywords:
        keywords = self._keywords.get(collection)
        return keywords if keywords is not None else self._rebuild(collection)

    def _rebuild(self, collection: str) -> _Keywords:
        keywords = _Keywords()
        for point in self._vectors.scroll(collection):
            keywords.add(point.id, point.payload)
        self._keywords[collection] = keywords
        return keywords
