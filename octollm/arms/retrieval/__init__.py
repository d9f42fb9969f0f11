"""The retriever arm's pure parts: chunking, rank fusion, citations, its store protocol."""

from octollm.arms.retrieval.chunking import Span, chunk_text
from octollm.arms.retrieval.citation import Citation, cite
from octollm.arms.retrieval.fusion import RRF_K, Fused, reciprocal_rank_fusion
from octollm.arms.retrieval.knowledge import Chunk, KnowledgeBase, ScoredChunk

__all__ = [
    "RRF_K",
    "Chunk",
    "Citation",
    "Fused",
    "KnowledgeBase",
    "ScoredChunk",
    "Span",
    "chunk_text",
    "cite",
    "reciprocal_rank_fusion",
]
