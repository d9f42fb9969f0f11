"""Choose the hybrid fusion by cross-validation over two corpora of different kinds.

Corpora (``benchmarks/data``):

* ``prose``: 205 public-domain passages (US Constitution, Declaration, speeches), 46 queries
  (``retrieval_corpus.jsonl`` / ``retrieval_queries.jsonl``, see ``retrieval_quality.py``);
* ``api``: 251 docstrings of octollm's own modules, classes and functions (an API reference),
  40 queries written for it (``retrieval_api_corpus.jsonl`` / ``retrieval_api_queries.jsonl``).

Each query's vector and keyword candidates (``max(2 * 10, 20)``, as the arm fetches them) are
taken once from the real knowledge base (all-MiniLM-L6-v2, Qdrant local mode, BM25) and kept
in ``benchmarks/data/retrieval_candidates.json`` (``--refresh`` rebuilds it, about 10 minutes
on the shared machine). Hybrid is then the arm's own ``_fuse`` at each point of its grid (the
keyword floor and the RRF ``k``), beside two other fusion families run on the same
candidates: a weighted sum of normalised scores, and RRF whose method weights rise with each
method's confidence (the gap between its first and second score).

Goal (issue 16): hybrid >= max(vector, keyword) on recall@5 and MRR@10 on both corpora. A
point's *margin* is the worst of those four differences; selection maximises the margin (ties:
the larger mean difference). Reported per family:

* leave one corpus out: choose on one corpus, score on the other;
* 5-fold cross-validation over queries, stratified by corpus: choose on four folds of both
  corpora, score the fifth; the out-of-fold rankings give each corpus's estimate;
* the choice on all queries, which is what the arm would ship.

    python benchmarks/retrieval_fusion_cv.py [--refresh] [--json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from retrieval_quality import MRR_DEPTH, K, load_corpus, load_queries  # noqa: E402

from octollm.arms.retriever import (  # noqa: E402
    HYBRID_KEYWORD_COVERAGE,
    HYBRID_KEYWORD_FLOOR,
    HYBRID_RRF_K,
    _fuse,
)
from octollm.contracts.arm_io import DEFAULT_COLLECTION  # noqa: E402

DATA = ROOT / "benchmarks" / "data"
CACHE = DATA / "retrieval_candidates.json"
CORPORA = {
    "prose": (DATA / "retrieval_corpus.jsonl", DATA / "retrieval_queries.jsonl"),
    "api": (DATA / "retrieval_api_corpus.jsonl", DATA / "retrieval_api_queries.jsonl"),
    "faq": (DATA / "retrieval_faq_corpus.jsonl", DATA / "retrieval_faq_queries.jsonl"),
}
CANDIDATES = 20
FOLDS = 5


@dataclass(frozen=True)
class Hit:
    """The fields of a ``ScoredChunk`` that fusion and scoring read."""

    id: str
    source: str
    score: float
    relevance: float
    coverage: float = 1.0


@dataclass(frozen=True)
class Case:
    id: str
    kind: str
    relevant: frozenset[str]
    vector: tuple[Hit, ...]
    keyword: tuple[Hit, ...]


Ranker = Callable[[Case], Sequence[Hit]]
Data = dict[str, list[Case]]


def refresh() -> None:
    from retrieval_quality import ingest, retriever

    out: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="octollm-fusion-cv-") as tmp:
        for name, (corpus_path, query_path) in CORPORA.items():
            corpus, queries = load_corpus(corpus_path), load_queries(query_path)
            rows = out[name] = []
            with retriever(Path(tmp) / name) as (arm, ctx):
                ingest(arm, ctx, corpus)
                kb = ctx.services["knowledge"]
                for q in queries:
                    args = (DEFAULT_COLLECTION, q.query)
                    found = {
                        "vector": kb.vector_search(*args, limit=CANDIDATES, filters={}),
                        "keyword": kb.keyword_search(*args, limit=CANDIDATES, filters={}),
                    }
                    rows.append({"id": q.id, "kind": q.kind, "relevant": sorted(q.relevant)} | {
                        method: [{"id": h.id, "source": h.source, "score": round(h.score, 6),
                                  "relevance": round(h.relevance, 6),
                                  "coverage": round(h.coverage, 6)} for h in hits]
                        for method, hits in found.items()
                    })  # fmt: skip
    CACHE.write_text(json.dumps(out, indent=0) + "\n", encoding="utf-8")


def load() -> Data:
    raw = json.loads(CACHE.read_text(encoding="utf-8"))
    return {
        name: [
            Case(
                r["id"],
                r["kind"],
                frozenset(r["relevant"]),
                tuple(Hit(**h) for h in r["vector"]),
                tuple(Hit(**h) for h in r["keyword"]),
            )
            for r in rows
        ]
        for name, rows in raw.items()
    }


# --- scoring --------------------------------------------------------------------------------


def _sources(hits: Sequence[Hit]) -> list[str]:
    seen: dict[str, None] = {}
    for hit in hits:
        seen.setdefault(hit.source, None)
    return list(seen)[:MRR_DEPTH]


def first_relevant(case: Case, ranker: Ranker) -> int | None:
    sources = _sources(ranker(case))
    return next((i for i, s in enumerate(sources, 1) if s in case.relevant), None)


def metrics(cases: Sequence[Case], ranker: Ranker) -> tuple[float, float]:
    recall, rr = [], []
    for case in cases:
        sources = _sources(ranker(case))
        recall.append(len(case.relevant & set(sources[:K])) / len(case.relevant))
        first = next((i for i, s in enumerate(sources, 1) if s in case.relevant), None)
        rr.append(1.0 / first if first else 0.0)
    n = len(cases) or 1
    return sum(recall) / n, sum(rr) / n


def vector(case: Case) -> Sequence[Hit]:
    return case.vector


def keyword(case: Case) -> Sequence[Hit]:
    return case.keyword


def differences(data: Data, ranker: Ranker) -> list[float]:
    """hybrid - max(vector, keyword), for recall@5 and MRR@10, on each corpus."""
    out = []
    for cases in data.values():
        if not cases:
            continue
        v, kw, h = metrics(cases, vector), metrics(cases, keyword), metrics(cases, ranker)
        out += [h[0] - max(v[0], kw[0]), h[1] - max(v[1], kw[1])]
    return out


def key(data: Data, ranker: Ranker) -> tuple[float, float]:
    d = differences(data, ranker)
    return round(min(d), 9), round(sum(d) / len(d), 9)


# --- fusion families ------------------------------------------------------------------------


def arm_fuse(floor: float, k: int, coverage: float = 0.0) -> Ranker:
    """The retriever arm's own ``_fuse``: RRF over keyword hits at or above ``floor`` whose
    query coverage is at least ``coverage``."""
    return lambda c: [
        hit
        for hit, _, _ in _fuse(c.vector, c.keyword, floor=floor, k=k, coverage=coverage)  # type: ignore[arg-type]
    ]


def weighted_sum(w: float, norm: str, floor: float) -> Ranker:
    """``w * vector + (1 - w) * keyword`` over per-query normalised scores (absent = 0)."""

    def scale(hits: Sequence[Hit], field: str) -> dict[str, float]:
        values = [getattr(h, field) for h in hits]
        if not values:
            return {}
        lo, hi = min(values), max(values)
        if norm == "minmax":
            return {h.id: (getattr(h, field) - lo) / (hi - lo) if hi > lo else 1.0 for h in hits}
        if norm == "zscore":
            sd = statistics.pstdev(values) or 1.0
            mu = statistics.mean(values)
            return {h.id: (getattr(h, field) - mu) / sd for h in hits}
        return {h.id: getattr(h, field) / hi if hi > 0 else 0.0 for h in hits}

    def rank(case: Case) -> list[Hit]:
        kw = [h for h in case.keyword if h.relevance >= floor]
        v, k = scale(case.vector, "score"), scale(kw, "relevance")
        by = {h.id: h for h in (*case.vector, *kw)}
        score = {i: w * v.get(i, 0.0) + (1 - w) * k.get(i, 0.0) for i in by}
        return [by[i] for i in sorted(score, key=lambda i: -score[i])]

    return rank


def confident_rrf(floor: float, k: int, beta_v: float, beta_k: float) -> Ranker:
    """RRF whose vector / keyword weights are ``1 + beta * (top1 - top2)`` of that method."""

    def gap(hits: Sequence[Hit], field: str) -> float:
        return getattr(hits[0], field) - getattr(hits[1], field) if len(hits) > 1 else 0.0

    def rank(case: Case) -> list[Hit]:
        kw = [h for h in case.keyword if h.relevance >= floor]
        weights = (1 + beta_v * gap(case.vector, "score"), 1 + beta_k * gap(kw, "relevance"))
        score: dict[str, float] = {}
        by: dict[str, Hit] = {}
        for weight, hits in zip(weights, (case.vector, kw), strict=True):
            for position, hit in enumerate(hits, 1):
                score[hit.id] = score.get(hit.id, 0.0) + weight / (k + position)
                by.setdefault(hit.id, hit)
        return [by[i] for i in sorted(score, key=lambda i: -score[i])]

    return rank


Grid = list[tuple[tuple[Any, ...], Ranker]]
_FLOORS = (0.0, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5)
_KS = (5, 10, 20, 40, 60, 100)
_WEIGHTS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
_NORMS = ("max", "minmax", "zscore")
_BETAS_V = (0, 2, 5, 10, 15, 20)
_BETAS_K = (0, 1, 2, 5)

_COVERAGES = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6)

FAMILIES: dict[str, Grid] = {
    "arm RRF (floor, k)": [((f, k), arm_fuse(f, k)) for f, k in itertools.product(_FLOORS, _KS)],
    "arm RRF with coverage gate (floor, k, coverage)": [
        ((f, k, c), arm_fuse(f, k, c)) for f, k, c in itertools.product(_FLOORS, _KS, _COVERAGES)
    ],
    "weighted sum (w, norm, floor)": [
        ((w, n, f), weighted_sum(w, n, f))
        for w, n, f in itertools.product(_WEIGHTS, _NORMS, (0.0, 0.1, 0.2, 0.3))
    ],
    "confidence RRF (floor, k, beta_v, beta_k)": [
        ((f, k, bv, bk), confident_rrf(f, k, bv, bk))
        for f, k, bv, bk in itertools.product(
            (0.15, 0.2, 0.25, 0.3), (5, 10, 20, 60), _BETAS_V, _BETAS_K
        )
    ],
}


def choose(
    data: Data, grid: list[tuple[tuple[Any, ...], Ranker]]
) -> tuple[tuple[Any, ...], Ranker]:
    return max(grid, key=lambda point: key(data, point[1]))


def scores(data: Data, ranker: Ranker) -> dict[str, list[float]]:
    return {name: [round(x, 3) for x in metrics(cases, ranker)] for name, cases in data.items()}


def cross_validate(data: Data, grid: Grid) -> dict[str, Any]:
    report: dict[str, Any] = {}
    for held in data:
        train = {n: c for n, c in data.items() if n != held}
        params, ranker = choose(train, grid)
        report[f"choose on {'+'.join(train)}, score {held}"] = {
            "params": params, "held": scores({held: data[held]}, ranker)[held]
        }  # fmt: skip
    out_of_fold: dict[str, list[tuple[Case, Ranker]]] = {n: [] for n in data}
    picked = []
    for fold in range(FOLDS):
        train = {n: [c for i, c in enumerate(cs) if i % FOLDS != fold] for n, cs in data.items()}
        params, ranker = choose(train, grid)
        picked.append(params)
        for n, cs in data.items():
            out_of_fold[n] += [(c, ranker) for i, c in enumerate(cs) if i % FOLDS == fold]
    estimate = {}
    for n, pairs in out_of_fold.items():
        recall = [metrics([c], r)[0] for c, r in pairs]
        rr = [metrics([c], r)[1] for c, r in pairs]
        estimate[n] = [round(sum(recall) / len(recall), 3), round(sum(rr) / len(rr), 3)]
    report["5-fold picks"] = picked
    report["5-fold out-of-fold hybrid"] = estimate
    params, ranker = choose(data, grid)
    report["choice on all queries"] = {"params": params, "scores": scores(data, ranker),
                                       "margin": key(data, ranker)[0]}  # fmt: skip
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--refresh", action="store_true", help="rebuild the candidate cache")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.refresh or not CACHE.exists():
        refresh()
    data = load()
    shipped = arm_fuse(HYBRID_KEYWORD_FLOOR, HYBRID_RRF_K, HYBRID_KEYWORD_COVERAGE)
    report: dict[str, Any] = {
        "vector": scores(data, vector),
        "keyword": scores(data, keyword),
        "current": {
            "params": (HYBRID_KEYWORD_FLOOR, HYBRID_RRF_K, HYBRID_KEYWORD_COVERAGE),
            "scores": scores(data, shipped),
            "margin": key(data, shipped)[0],
        },
        "families": {name: cross_validate(data, grid) for name, grid in FAMILIES.items()},
    }
    print(json.dumps(report, indent=None if args.json else 1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
