"""Retrieval quality of the retriever arm: recall@5 and MRR for vector, keyword and hybrid.

Corpus: ``benchmarks/data/retrieval_corpus.jsonl``, 205 public-domain passages (the US
Constitution and its amendments, the Declaration of Independence, the Gettysburg Address,
Lincoln's second and Kennedy's inaugural addresses), each ingested as its own document with
source ``<document>#<passage>``. Queries: ``benchmarks/data/retrieval_queries.jsonl``, 46
questions labelled with the passages that answer them: 35 paraphrases (little word overlap
with the text) and 11 exact-term queries (the wording of the text, often archaic).

Everything runs through ``RetrieverArm.run`` with the real all-MiniLM-L6-v2 embedder, Qdrant
in local mode (a temporary directory) and the in-memory BM25 index.

    python benchmarks/retrieval_quality.py [--out docs/benchmarks-retrieval.md] [--json]

recall@5: the share of a query's relevant passages among the first five results, averaged
over queries. MRR: 1 / rank of the first relevant result within the first ten (0 if none),
averaged over queries.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from octollm.arms.base import ArmContext  # noqa: E402
from octollm.arms.boundary import call  # noqa: E402
from octollm.arms.retriever import (  # noqa: E402
    HYBRID_KEYWORD_COVERAGE,
    HYBRID_KEYWORD_FLOOR,
    HYBRID_RRF_K,
    RetrieverArm,
)

DATA = Path(__file__).resolve().parent / "data"
METHODS = ("vector", "keyword", "hybrid")
K = 5
MRR_DEPTH = 10


@dataclass(frozen=True)
class Query:
    id: str
    query: str
    kind: str
    relevant: frozenset[str]


@dataclass(frozen=True)
class Scores:
    method: str
    recall_at_5: float
    mrr: float
    queries: int
    misses_at_5: tuple[str, ...]  # ids of queries with no relevant passage in the top 5


def load_corpus(path: Path = DATA / "retrieval_corpus.jsonl") -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def load_queries(path: Path = DATA / "retrieval_queries.jsonl") -> list[Query]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [Query(r["id"], r["query"], r["kind"], frozenset(r["relevant"])) for r in rows]


def documents(corpus: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "source": row["id"],
            "text": row["text"],
            "metadata": {
                "document": row["document"],
                "section": row["section"],
                "year": row["year"],
            },
        }
        for row in corpus
    ]


@contextmanager
def retriever(workdir: Path) -> Iterator[tuple[RetrieverArm, ArmContext]]:
    """The arm with a real knowledge base over a fresh local-mode Qdrant in ``workdir``."""
    from embedding_cache import CachedEmbedder

    from octollm.memory.embeddings import MiniLMEmbedder
    from octollm.memory.knowledge import QdrantKnowledgeBase
    from octollm.memory.vectors import VectorStore, close_local_clients

    embedder = CachedEmbedder(MiniLMEmbedder())
    kb = QdrantKnowledgeBase(embedder, VectorStore(path=workdir / "qdrant")).for_tenant("benchmark")
    ctx = ArmContext(task_id="bench", step_id="retrieval", attempt=1, goal="benchmark")
    ctx.services = {"knowledge": kb}
    try:
        yield RetrieverArm(), ctx
    finally:
        close_local_clients(workdir / "qdrant")


def ingest(arm: RetrieverArm, ctx: ArmContext, corpus: Sequence[dict[str, Any]]) -> int:
    docs = documents(corpus)
    chunks = 0
    for start in range(0, len(docs), 200):
        batch = docs[start : start + 200]
        chunks += int(call(arm, {"op": "ingest", "documents": batch}, ctx).output["chunks"])
    return chunks


def ranked_sources(arm: RetrieverArm, ctx: ArmContext, query: str, method: str) -> list[str]:
    """Distinct sources in result order (several chunks of one passage count once)."""
    output = call(arm, {"query": query, "method": method, "limit": MRR_DEPTH}, ctx).output
    seen: dict[str, None] = {}
    for result in output["results"]:
        seen.setdefault(result["source"], None)
    return list(seen)


def score(arm: RetrieverArm, ctx: ArmContext, queries: Sequence[Query], method: str) -> Scores:
    recalls: list[float] = []
    reciprocal: list[float] = []
    misses: list[str] = []
    for q in queries:
        sources = ranked_sources(arm, ctx, q.query, method)
        found = q.relevant & set(sources[:K])
        recalls.append(len(found) / len(q.relevant))
        if not found:
            misses.append(q.id)
        first = next((i for i, s in enumerate(sources[:MRR_DEPTH], 1) if s in q.relevant), None)
        reciprocal.append(1.0 / first if first else 0.0)
    n = len(queries) or 1
    return Scores(method, sum(recalls) / n, sum(reciprocal) / n, len(queries), tuple(misses))


def evaluate(workdir: Path) -> dict[str, Any]:
    corpus, queries = load_corpus(), load_queries()
    with retriever(workdir) as (arm, ctx):
        began = time.perf_counter()
        chunks = ingest(arm, ctx, corpus)
        ingest_seconds = time.perf_counter() - began
        results: dict[str, dict[str, Any]] = {}
        for method in METHODS:
            ranked_sources(arm, ctx, "warm-up query", method)  # untimed: first-call costs
            began = time.perf_counter()
            overall = score(arm, ctx, queries, method)
            per_query_ms = (time.perf_counter() - began) * 1000 / max(1, len(queries))
            by_kind = {
                kind: asdict(score(arm, ctx, [q for q in queries if q.kind == kind], method))
                for kind in sorted({q.kind for q in queries})
            }
            results[method] = {**asdict(overall), "ms_per_query": per_query_ms, "by_kind": by_kind}
    return {
        "passages": len(corpus),
        "chunks": chunks,
        "queries": len(queries),
        "query_kinds": {k: sum(q.kind == k for q in queries) for k in {q.kind for q in queries}},
        "ingest_seconds": ingest_seconds,
        "methods": results,
        "machine": f"{platform.system()} {platform.machine()}, Python {platform.python_version()}",
    }


NOTES = """\
How hybrid got here (nothing hidden):

* First run, plain RRF (k=60) over both candidate lists: recall@5 / MRR@10 = vector
  0.906 / 0.888, keyword 0.739 / 0.653, **hybrid 0.819 / 0.774**: worse than vector alone.
  BM25 hits that match one common query word ("House", "trial", "president") sit in both
  candidate lists, and RRF rewards agreement, so they overtook the best vector hit.
* A keyword floor (keyword hits enter the fusion only at a normalised BM25 relevance of at
  least the floor) fixed that on this corpus: floor 0.3, k 60 gave 0.935 / 0.899. That floor
  was chosen on this corpus alone.
* Issue 16 asked that no fusion parameter be tuned on one corpus. A second corpus of another
  kind, an API reference of 251 octollm docstrings with 40 queries, showed floor 0.3 throws away
  the right keyword hit of API queries, whose rare identifiers score 0.2-0.3: there hybrid
  scored 0.900 / 0.847, under keyword's 0.938 / 0.915.
* The fusion was then chosen by cross-validation over both corpora: floor 0.2, k 10. On this
  corpus its MRR (0.877) was 0.011 under vector's (0.888): paraphrase queries whose keyword
  hit is a wrong passage at relevance 0.20-0.22 that the vector list also holds lower down;
  RRF rewards that agreement and the right vector hit drops from 1st to 2nd.
* Issue 16's follow-up: keyword hits now carry their *coverage*, the idf share of the query's
  terms they contain, and hybrid also gates on it. A third corpus of another kind (a help
  centre, 70 articles, 40 queries) joined the cross-validation
  (`python benchmarks/retrieval_fusion_cv.py`, below). The choice on all queries of the three
  corpora is floor 0.2, k 10, coverage 0.3: the table above. On all queries hybrid is now at
  least the better single method on recall@5 and MRR@10 on each corpus, with no margin to
  spare; out of fold it is not (see "Cross-validation" below).
* The corpus is small and the labels are one author's: read the numbers as a regression guard
  and a comparison of methods, not as an absolute quality claim.
"""


def markdown(report: dict[str, Any]) -> str:
    methods = report["methods"]
    lines = [
        "## Retrieval quality (retriever arm)",
        "",
        f"{report['passages']} public-domain passages ({report['chunks']} chunks) and "
        f"{report['queries']} labelled queries ({report['query_kinds'].get('paraphrase', 0)} "
        f"paraphrased, {report['query_kinds'].get('exact', 0)} exact-term); all-MiniLM-L6-v2, "
        "Qdrant local mode, BM25 (k1=1.5, b=0.75), hybrid = RRF with "
        f"k={HYBRID_RRF_K} over max(2·limit, 20) candidates per method, keyword hits at a "
        f"relevance of at least {HYBRID_KEYWORD_FLOOR} covering at least "
        f"{HYBRID_KEYWORD_COVERAGE} of the query's idf. "
        "Run: `python benchmarks/retrieval_quality.py`.",
        "",
        "| method | recall@5 | MRR@10 | recall@5 paraphrase | recall@5 exact | ms/query |",
        "|---|---|---|---|---|---|",
    ]
    for name in METHODS:
        m = methods[name]
        kinds = m["by_kind"]
        lines.append(
            f"| {name} | {m['recall_at_5']:.3f} | {m['mrr']:.3f} "
            f"| {kinds.get('paraphrase', {}).get('recall_at_5', 0):.3f} "
            f"| {kinds.get('exact', {}).get('recall_at_5', 0):.3f} | {m['ms_per_query']:.1f} |"
        )
    lines += [
        "",
        "Queries with no relevant passage in the top 5: "
        + "; ".join(f"{n}: {', '.join(methods[n]['misses_at_5']) or 'none'}" for n in METHODS)
        + ".",
        "",
        f"Machine: {report['machine']}; ingest of the corpus took "
        f"{report['ingest_seconds']:.1f} s (embeddings come from `benchmarks/.cache/` when an "
        "earlier run left them there; the first run embeds every chunk on the CPU). Timings "
        "are taken on whatever load the machine has: compare methods within one run only.",
        "",
        NOTES,
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks-retrieval.md")
    parser.add_argument("--json", action="store_true", help="print the raw report as JSON")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="octollm-retrieval-") as tmp:
        report = evaluate(Path(tmp))
    text = markdown(report)
    print(json.dumps(report, indent=2) if args.json else text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
