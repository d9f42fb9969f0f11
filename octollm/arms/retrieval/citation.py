"""Citations: where in which source a result's text stands.

A result's citation is ``{source, start, end}``: character offsets into the ingested document,
so ``document[start:end]`` is exactly the quoted content. A chunk of a stored document
(``octollm ingest``, ``POST /api/v1/knowledge/documents``) also names ``document_id``,
``title`` and ``chunk`` (its index in the document), so an answer can cite "[title, chunk n]"
and a reader can fetch the document by id. The response also lists each cited
source once, in rank order, for a bibliography or ``[n]`` markers.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NotRequired, TypedDict


class Citation(TypedDict):
    source: str
    start: int
    end: int
    document_id: NotRequired[str]
    title: NotRequired[str]
    chunk: NotRequired[int]


def cite(
    source: str,
    start: int,
    end: int,
    *,
    chunk: int | None = None,
    metadata: dict[str, Any] | None = None,
) -> Citation:
    """A citation; a stored document's chunk (``metadata.document_id``) also names the document."""
    if start < 0 or end < start:
        raise ValueError("a citation needs 0 <= start <= end")
    citation = Citation(source=source, start=start, end=end)
    document_id = (metadata or {}).get("document_id")
    if document_id:
        citation["document_id"] = str(document_id)
        citation["title"] = str((metadata or {}).get("title") or source)
        if chunk is not None:
            citation["chunk"] = chunk
    return citation


def cited_sources(citations: Iterable[Citation]) -> list[str]:
    """Each source once, in first-cited order."""
    seen: dict[str, None] = {}
    for citation in citations:
        seen.setdefault(citation["source"], None)
    return list(seen)
