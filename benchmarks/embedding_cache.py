"""An embedder that keeps the vectors it computed on disk, for the retrieval benchmarks only.

Embedding the benchmark corpora on a loaded CPU takes minutes; the vectors of a text never
change for one model, so a second run reads them back. The cache is one JSON file per model
under ``benchmarks/.cache/`` (git-ignored), keyed by the SHA-256 of the text. Only texts
already seen are read back: a new or edited text is embedded by the wrapped model, so a stale
cache cannot change a result. ``OCTOLLM_BENCH_NO_EMBED_CACHE=1`` turns it off.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

from octollm.memory.embeddings import Embedder

CACHE_DIR = Path(__file__).resolve().parent / ".cache"


class CachedEmbedder:
    def __init__(self, inner: Embedder, directory: Path = CACHE_DIR) -> None:
        self._inner = inner
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in inner.model_name)
        self._path = directory / f"embeddings-{safe}.json"
        self._vectors: dict[str, list[float]] = {}
        self._enabled = os.environ.get("OCTOLLM_BENCH_NO_EMBED_CACHE") != "1"
        if self._enabled and self._path.exists():
            self._vectors = json.loads(self._path.read_text(encoding="utf-8"))
        self.hits = 0
        self.misses = 0

    @property
    def dim(self) -> int:
        return self._inner.dim

    @property
    def model_name(self) -> str:
        return self._inner.model_name

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        keys = [hashlib.sha256(t.encode("utf-8")).hexdigest() for t in texts]
        if not self._enabled:
            return self._inner.embed(texts)
        todo = sorted(
            {k: t for k, t in zip(keys, texts, strict=True) if k not in self._vectors}.items()
        )
        if todo:
            fresh = self._inner.embed([t for _, t in todo])
            self._vectors.update({k: v for (k, _), v in zip(todo, fresh, strict=True)})
            self._save()
        self.misses += len(todo)
        self.hits += len(keys) - len(todo)
        return [self._vectors[k] for k in keys]

    def _save(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._vectors), encoding="utf-8")
        tmp.replace(self._path)
