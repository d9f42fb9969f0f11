"""Citations: where in which source a result's text stands.

A result's citation is ``{source, start, end}``: character offsets into the ingested document,
so ``document[start:end]`` is exactly the quoted content. The response also lists each cited
source once, in rank order, for a bibliography or ``[n]`` markers.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypedDict


class Citation(TypedDict):
    source: str
    start: int
    end: int


def cite(source: str, start: int, end: int) -> Citation:
    if start < 0 or end < start:
        raise ValueError("a citation needs 0 <= start <= end")
    return Citation(source=source, start=start, end=end)


def cited_sources(citations: Iterable[Citation]) -> list[str]:
    """Each source once, in first-cited order."""
    seen: dict[str, None] = {}
    for citation in citations:
        seen.setdefault(citation["source"], None)
    return list(seen)
