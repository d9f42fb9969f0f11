"""Okapi BM25 keyword search, in memory, with incremental add and remove.

Scoring (k1=1.5, b=0.75), for query terms t present in document d:

    score(d) = sum_t idf(t) * tf(t,d) * (k1 + 1) / (tf(t,d) + k1 * (1 - b + b * |d| / avgdl))
    idf(t)   = ln(1 + (N - n(t) + 0.5) / (n(t) + 0.5))

The idf is Lucene's form of the Robertson/Sparck Jones weight: it stays positive for terms in
more than half the documents (the classic form goes negative there; rank-bm25 patches that with
an epsilon floor). A query term repeated counts once per repetition, as in BM25's qtf=1 form.

``coverage`` is the share of the query's information a document contains: the idf of the
distinct query terms it has over the idf of all distinct query terms (0..1). A document that
repeats one common query word ("House") many times can reach a fair relevance with a low
coverage; hybrid search uses it to keep such hits out of the fusion (octollm/arms/retriever.py).

``relevance`` maps a raw score to 0..1 without looking at other hits: the score divided by the
largest score the query could reach, ``sum_t idf(t) * (k1 + 1)`` (every term saturated in a
short document). So 0.3 means "as strong as three tenths of a perfect match", in any query.

Tokenisation: lowercase, split on anything not a letter or digit, drop English stopwords and
one-character tokens, then a light suffix stemmer (plurals, -ing, -ed, -ly) so that "taxes",
"taxed" and "tax" meet. It was fixed before the evaluation ran (see docs/benchmarks-retrieval.md).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

K1 = 1.5
B = 0.75

_STOPWORD_TEXT = """
a about above after again against all am an and any are as at be because been before being below
between both but by can could did do does doing down during each few for from further had has have
having he her here hers herself him himself his how i if in into is it its itself just me more most
my myself no nor not now of off on once only or other our ours ourselves out over own same she
should so some such than that the their theirs them themselves then there these they this those
through to too under until up very was we were what when where which while who whom why will with
would you your yours yourself yourselves shall may upon thereof therein whereof
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())

_TOKEN = re.compile(r"[a-z0-9]+")


def stem(word: str) -> str:
    """A light English suffix stemmer; it only conflates, never needs to produce real words."""
    if len(word) <= 3 or word.isdigit():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "ches", "shes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix in ("ingly", "edly", "ing", "ed", "ly"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            if len(word) > 2 and word[-1] == word[-2] and word[-1] not in "lsz":
                word = word[:-1]  # "committed" -> "commit"
            break
    if word.endswith("e") and len(word) > 4:
        word = word[:-1]  # "taxe"/"tax", "declare"/"declar" meet
    return word


def tokenize(text: str) -> list[str]:
    """Lowercase word tokens, stopwords and single characters removed, stemmed."""
    return [stem(t) for t in _TOKEN.findall(text.lower()) if len(t) > 1 and t not in STOPWORDS]


@dataclass(frozen=True)
class KeywordHit:
    doc_id: str
    score: float  # raw BM25
    relevance: float  # score / the query's maximum attainable score, 0..1
    coverage: float = 1.0  # idf share of the distinct query terms the document contains, 0..1


class BM25Index:
    """Documents by id; ``add`` replaces an existing id; ``remove`` forgets it."""

    def __init__(self, *, k1: float = K1, b: float = B) -> None:
        self.k1 = k1
        self.b = b
        self._tf: dict[str, Counter[str]] = {}
        self._len: dict[str, int] = {}
        self._df: Counter[str] = Counter()
        self._postings: dict[str, set[str]] = {}
        self._total_len = 0

    def __len__(self) -> int:
        return len(self._tf)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._tf

    def add(self, doc_id: str, text: str) -> None:
        if doc_id in self._tf:
            self.remove(doc_id)
        terms = Counter(tokenize(text))
        self._tf[doc_id] = terms
        self._len[doc_id] = sum(terms.values())
        self._total_len += self._len[doc_id]
        for term in terms:
            self._df[term] += 1
            self._postings.setdefault(term, set()).add(doc_id)

    def add_many(self, docs: Iterable[tuple[str, str]]) -> None:
        for doc_id, text in docs:
            self.add(doc_id, text)

    def remove(self, doc_id: str) -> None:
        terms = self._tf.pop(doc_id, None)
        if terms is None:
            return
        self._total_len -= self._len.pop(doc_id)
        for term in terms:
            self._df[term] -= 1
            posting = self._postings[term]
            posting.discard(doc_id)
            if self._df[term] <= 0:
                del self._df[term]
                del self._postings[term]

    def clear(self) -> None:
        self._tf.clear()
        self._len.clear()
        self._df.clear()
        self._postings.clear()
        self._total_len = 0

    def idf(self, term: str) -> float:
        n = self._df.get(term, 0)
        return math.log(1.0 + (len(self._tf) - n + 0.5) / (n + 0.5))

    def search(
        self,
        query: str,
        *,
        limit: int = 10,
        accept: Callable[[str], bool] | None = None,
    ) -> list[KeywordHit]:
        """The ``limit`` best documents for ``query`` (only those ``accept`` allows), best first."""
        terms = tokenize(query)
        if not terms or not self._tf:
            return []
        avgdl = self._total_len / len(self._tf) or 1.0
        scores: dict[str, float] = {}
        ceiling = 0.0
        for term in terms:
            idf = self.idf(term)
            ceiling += idf * (self.k1 + 1)
            for doc_id in self._postings.get(term, ()):
                tf = self._tf[doc_id][term]
                norm = self.k1 * (1 - self.b + self.b * self._len[doc_id] / avgdl)
                scores[doc_id] = scores.get(doc_id, 0.0) + idf * tf * (self.k1 + 1) / (tf + norm)
        ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
        weights = {term: self.idf(term) for term in set(terms)}
        information = sum(weights.values())
        hits: list[KeywordHit] = []
        for doc_id, score in ranked:
            if accept is not None and not accept(doc_id):
                continue
            has = self._tf[doc_id]
            covered = sum(w for term, w in weights.items() if term in has)
            hits.append(
                KeywordHit(
                    doc_id,
                    score,
                    min(1.0, score / ceiling) if ceiling else 0.0,
                    min(1.0, covered / information) if information else 0.0,
                )
            )
            if len(hits) >= limit:
                break
        return hits
