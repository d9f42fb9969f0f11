"""Reciprocal rank fusion (Cormack, Clarke and Buettcher, 2009).

    rrf(d) = sum over rankings r containing d of 1 / (k + rank_r(d)),   rank from 1, k = 60

RRF uses ranks only, so BM25 scores and cosine similarities need no common scale. OctoLLM's
retriever keys the fusion by *source*; octollm keys it by *chunk id*, so two passages of one
long document stay two results.

``relevance`` maps a fused score to 0..1 by dividing by the best possible score (first in every
ranking): 1.0 means "ranked first by every method", 0.5 with two methods means "first in one,
absent from the other".
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

RRF_K = 60

T = TypeVar("T", bound=Hashable)


@dataclass(frozen=True)
class Fused(Generic[T]):
    key: T
    score: float
    relevance: float
    ranks: tuple[int | None, ...]  # the key's rank in each input ranking (None: absent)


def reciprocal_rank_fusion(rankings: Sequence[Sequence[T]], *, k: int = RRF_K) -> list[Fused[T]]:
    """Fuse best-first rankings; ties go to the better best rank, then to input order."""
    if k < 1:
        raise ValueError("k must be at least 1")
    if not rankings:
        return []
    ranks: dict[T, list[int | None]] = {}
    order: dict[T, int] = {}
    for which, ranking in enumerate(rankings):
        for position, key in enumerate(ranking, start=1):
            slots = ranks.setdefault(key, [None] * len(rankings))
            order.setdefault(key, len(order))
            if slots[which] is None:  # a duplicate later in one ranking does not count again
                slots[which] = position
    ceiling = len(rankings) / (k + 1)
    fused = [
        Fused(
            key,
            score := sum(1.0 / (k + r) for r in slots if r is not None),
            score / ceiling,
            tuple(slots),
        )
        for key, slots in ranks.items()
    ]
    fused.sort(key=lambda f: (-f.score, min(r for r in f.ranks if r is not None), order[f.key]))
    return fused
