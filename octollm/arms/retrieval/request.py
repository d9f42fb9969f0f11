"""The retriever arm's inputs, validated: ``ingest`` documents, ``search`` a collection, or
``forget`` stored documents.

Search follows OctoLLM's retriever contract: ``query`` 1..500 characters, ``method``
vector|keyword|hybrid (default hybrid), ``limit`` 1..100 (default 10), ``filters``,
``min_relevance_score`` 0..1, ``include_citations`` (default true). The digest's default
``min_relevance_score`` of 0.5 was tuned for Elasticsearch's score/10; octollm's keyword and
hybrid scales are stricter (see ``octollm.memory.keyword`` and ``fusion``), so the default is 0.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from octollm.arms.retrieval.chunking import DEFAULT_MAX_CHARS, DEFAULT_OVERLAP_CHARS

COLLECTION_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
DEFAULT_COLLECTION = "knowledge_base"

Method = Literal["vector", "keyword", "hybrid"]


class Document(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1, max_length=500, description="URI or name of the document.")
    text: str = Field(min_length=1, max_length=2_000_000)
    metadata: dict[str, Any] = Field(
        default_factory=dict, description="Stored with every chunk; filterable by key."
    )


class IngestRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    op: Literal["ingest"]
    documents: list[Document] = Field(min_length=1, max_length=1000)
    collection: str = Field(default=DEFAULT_COLLECTION, pattern=COLLECTION_PATTERN)
    chunk_chars: int = Field(default=DEFAULT_MAX_CHARS, ge=200, le=4000)
    overlap_chars: int = Field(default=DEFAULT_OVERLAP_CHARS, ge=0, le=1000)
    replace: bool = Field(
        default=True, description="Drop chunks previously stored for the same sources first."
    )


class ForgetRequest(BaseModel):
    """Delete the chunks of stored documents (``metadata.document_id``) from the caller's corpus."""

    model_config = ConfigDict(extra="forbid")

    op: Literal["forget"]
    document_ids: list[str] = Field(min_length=1, max_length=100)
    collection: str = Field(default=DEFAULT_COLLECTION, pattern=COLLECTION_PATTERN)


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    op: Literal["search"] = "search"
    query: str = Field(min_length=1, max_length=500)
    method: Method = "hybrid"
    limit: int = Field(default=10, ge=1, le=100)
    filters: dict[str, Any] = Field(default_factory=dict)
    min_relevance_score: float = Field(default=0.0, ge=0.0, le=1.0)
    include_citations: bool = True
    collection: str = Field(default=DEFAULT_COLLECTION, pattern=COLLECTION_PATTERN)
