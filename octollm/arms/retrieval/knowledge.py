"""What the retriever arm needs from a knowledge store, as a protocol.

The arm layer may not import qdrant_client or any embedding framework, so it names the
collaborator it expects (``ctx.services["knowledge"]``) and the shapes that cross the boundary.
``octollm.memory.knowledge.QdrantKnowledgeBase`` implements it (Embedder + Qdrant + BM25)
structurally, without importing this module (memory sits below arms).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class Chunk:
    """A piece of a source document; ``text == document[start:end]``."""

    id: str
    text: str
    source: str
    start: int
    end: int
    index: int  # position of the chunk within its document
    metadata: dict[str, Any] = field(default_factory=dict)


class ScoredChunk(Protocol):
    """A stored chunk found by a search."""

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
    @property
    def score(self) -> float: ...  # the method's raw score (cosine, BM25)
    @property
    def relevance(self) -> float: ...  # the method's score mapped to 0..1
    @property
    def coverage(self) -> float: ...  # keyword: idf share of the query terms it has (vector: 1)


@runtime_checkable
class KnowledgeBase(Protocol):
    """Chunks stored per collection, searchable by meaning and by keywords.

    ``filters`` maps ``source`` or a metadata key to a value, a list of values (any of) or a
    numeric range ``{"gte": .., "lt": ..}``; an invalid filter raises ``InvalidInput``.
    """

    @property
    def embedding_model(self) -> str: ...

    def ingest(
        self, collection: str, chunks: Sequence[Chunk], *, replace_sources: bool = True
    ) -> int: ...

    def vector_search(
        self, collection: str, query: str, *, limit: int, filters: Mapping[str, Any]
    ) -> Sequence[ScoredChunk]: ...

    def keyword_search(
        self, collection: str, query: str, *, limit: int, filters: Mapping[str, Any]
    ) -> Sequence[ScoredChunk]: ...
