"""Choose the hybrid fusion parameters by cross-validation over two corpora of different kinds.

Corpora (``benchmarks/data``):

* ``prose``: 205 public-domain passages (US Constitution, Declaration, speeches), 46 queries
  (``retrieval_corpus.jsonl`` / ``retrieval_queries.jsonl``, see ``retrieval_quality.py``);
* ``api``: 251 docstrings of octollm's own modules, classes and functions (an API reference),
  40 queries written for it (``retrieval_api_corpus.jsonl`` / ``retrieval_api_queries.jsonl``).

Each query's vector and keyword candidates (``max(2 * 10, 20)``, as the arm fetches them) are
taken once from the real knowledge base (all-MiniLM-L6-v2, Qdrant local mode, BM25); hybrid is
then the arm's own ``_fuse`` under each grid point: the keyword floor and the RRF ``k``.

Selection: leave one corpus out (choose on one, score on the other), and a final choice that
maximises the *worse* of the two corpora's mean of recall@5 and MRR@10, so no corpus decides
alone.

    python benchmarks/retrieval_fusion_cv.py [--out docs/benchmarks-retrieval-cv.md]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from retrieval_quality import MRR_DEPTH, K, Query, load_corpus, load_queries  # noqa: E402

from octollm.arms.retriever import HYBRID_KEYWORD_FLOOR, HYBRID_RRF_K, _fuse  # noqa: E402
from octollm.contracts.arm_io import DEFAULT_COLLECTION  # noqa: E402

DATA = ROOT / "benchmarks" / "data"
CORPORA = {
    "prose": (DATA / "retrieval_corpus.jsonl", DATA / "retrieval_queries.jsonl"),
    "api": (DATA / "retrieval_api_corpus.jsonl", DATA / "retrieval_api_queries.jsonl"),
}
FLOORS = (0.0, 0.1, 0.2, 0.25, 0.3, 0.4, 0.5)
KS = (5, 10, 20, 40, 60, 100)
CANDIDATES = 20

Candidates = list[tuple[Query, list[Any], list[Any]]]


def candidates(name: str, workdir: Path) -> Candidates:
    from retrieval_quality import ingest, retriever

    corpus_path, query_path = CORPORA[name]
    corpus, queries = load_corpus(corpus_path), load_queries(query_path)
    out: Candidates = []
    with retriever(workdir / name) as (arm, ctx):
        ingest(arm, ctx, corpus)
        kb = ctx.services["knowledge"]
        for q in queries:
            args = (DEFAULT_COLLECTION, q.query)
            vector = kb.vector_search(*args, limit=CANDIDATES, filters={})
            keyword = kb.keyword_search(*args, limit=CANDIDATES, filters={})
            out.append((q, list(vector), list(keyword)))
    return out


def _sources(hits: Sequence[Any]) -> list[str]:
    seen: dict[str, None] = {}
    for hit in hits:
        seen.setdefault(hit.source, None)
    return list(seen)[:MRR_DEPTH]


def metrics(ranked: list[tuple[Query, list[str]]]) -> dict[str, float]:
    recall, rr = [], []
    for q, sources in ranked:
        recall.append(len(q.relevant & set(sources[:K])) / len(q.relevant))
        first = next((i for i, s in enumerate(sources, 1) if s in q.relevant), None)
        rr.append(1.0 / first if first else 0.0)
    n = len(ranked) or 1
    return {"recall_at_5": sum(recall) / n, "mrr_at_10": sum(rr) / n}


def method_scores(data: Candidates, floor: float, k: int) -> dict[str, dict[str, float]]:
    return {
        "vector": metrics([(q, _sources(v)) for q, v, _ in data]),
        "keyword": metrics([(q, _sources(kw)) for q, _, kw in data]),
        "hybrid": metrics(
            [(q, _sources([h for h, _, _ in _fuse(v, kw, floor=floor, k=k)])) for q, v, kw in data]
        ),
    }


def objective(scores: dict[str, float]) -> float:
    return (scores["recall_at_5"] + scores["mrr_at_10"]) / 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="octollm-fusion-cv-") as tmp:
        data = {name: candidates(name, Path(tmp)) for name in CORPORA}
    grid = list(itertools.product(FLOORS, KS))
    table = {(f, k): {name: method_scores(d, f, k) for name, d in data.items()} for f, k in grid}
    report: dict[str, Any] = {"grid": {f"{f}/{k}": v for (f, k), v in table.items()}}
    for held in CORPORA:
        train = next(n for n in CORPORA if n != held)
        best = max(grid, key=lambda p: (objective(table[p][train]["hybrid"]), -p[0], p[1]))
        report[f"choose_on_{train}_score_{held}"] = {
            "floor": best[0], "k": best[1], "on_held": table[best][held],
        }  # fmt: skip
    chosen = max(
        grid, key=lambda p: (min(objective(table[p][n]["hybrid"]) for n in CORPORA), -p[0], p[1])
    )
    report["chosen"] = {"floor": chosen[0], "k": chosen[1], "scores": table[chosen]}
    current = (HYBRID_KEYWORD_FLOOR, HYBRID_RRF_K)
    report["current"] = {"floor": current[0], "k": current[1], "scores": table.get(current)}
    print(json.dumps(report if args.json else {k: v for k, v in report.items() if k != "grid"},
                     indent=1))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
