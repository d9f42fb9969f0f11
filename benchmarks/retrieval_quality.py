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

from octollm.arms.base import ArmContext  # noqa: E402
from octollm.arms.boundary import call  # noqa: E402
from octollm.arms.retriever import RetrieverArm  # noqa: E402

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
    from octollm.memory.embeddings import MiniLMEmbedder
    from octollm.memory.knowledge import QdrantKnowledgeBase
    from octollm.memory.vectors import VectorStore, close_local_clients

    kb = QdrantKnowledgeBase(MiniLMEmbedder(), VectorStore(path=workdir / "qdrant")).for_tenant(
        "benchmark"
    )
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
* To fix it without fitting the labels, the queries were split: odd ids (23) as a
  development half, whose failures were inspected, and even ids (23) held out. On the dev half
  two changes helped equally on recall@5 (0.783 -> 0.870; vector 0.848): the design digest's
  0.7/0.3 vector/keyword weighting, and admitting keyword hits to the fusion only when their
  normalised BM25 relevance is at least a floor (0.2 and 0.3 tied). The floor kept MRR higher
  (0.679 vs 0.575), so it was adopted, at the less aggressive 0.2; RRF stays unweighted, k=60.
* Held-out half, measured once after that choice: vector 0.964 / 0.978, keyword 0.783 / 0.745,
  hybrid **1.000 / 0.978** (plain RRF had been 0.855 / 0.853 there). On the dev half hybrid's
  MRR (0.777) stayed a little under vector's (0.798), and over all 46 queries too (0.877 vs
  0.888): the acceptance asks hybrid to be no worse than the better method.
* Second look, on the dev half only: the two tied floors differ on MRR, 0.2 -> 0.777 and
  0.3 -> 0.798 (equal recall@5, 0.870); the first choice had broken the tie on recall alone.
  The floor is now 0.3. The held-out half had been seen once by then, so it is no longer
  strictly unseen: with 0.3 it scores 1.000 / 1.000. Per query over all 46, hybrid against
  vector: first relevant hit higher for q40 ("poll tax", 2 -> 1), lower for none.
* Chunking, BM25 tokenisation and the labels were not changed after the first run. Passages
  are mostly shorter than a chunk (800 characters), so chunking barely matters here; a
  cross-encoder reranker (the design's ms-marco-MiniLM-L-6-v2) is not used: no packaged,
  offline copy of it is available.
* The corpus is small and the labels are one author's: read the numbers as a regression guard
  and a comparison of methods, not as an absolute quality claim.
* Cross-validated against a second corpus (an API reference) in
  `docs/benchmarks-retrieval-cv.md`: no floor/k keeps hybrid at least as good as the better
  method on both corpora; the parameters here are unchanged.
"""


def markdown(report: dict[str, Any]) -> str:
    methods = report["methods"]
    lines = [
        "## Retrieval quality (retriever arm)",
        "",
        f"{report['passages']} public-domain passages ({report['chunks']} chunks) and "
        f"{report['queries']} labelled queries ({report['query_kinds'].get('paraphrase', 0)} "
        f"paraphrased, {report['query_kinds'].get('exact', 0)} exact-term); all-MiniLM-L6-v2, "
        "Qdrant local mode, BM25 (k1=1.5, b=0.75), hybrid = RRF with k=60 over "
        "max(2·limit, 20) candidates per method. Run: `python benchmarks/retrieval_quality.py`.",
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
        f"{report['ingest_seconds']:.1f} s including the model load.",
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
