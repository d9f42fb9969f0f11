"""Vector memory: the ``Vectors`` interface, and its Qdrant backend (``VectorStore``).

``Vectors`` is what the knowledge base and the coder's memory use; two backends offer it:
``VectorStore`` here (Qdrant) and ``octollm.memory.pgvectors.PgVectorStore`` (pgvector in the
database: the fleet's choice, ``memory.vector_backend = "pgvector"``).

Qdrant: collections created on first use, upsert with payload, filtered search.
Two deployments, one code path:

* **local mode** (``VectorStore(path=...)``, the embedded default, under ``<data_dir>/qdrant``):
  qdrant-client keeps the collections in that directory and **locks it**. Only one client per
  path may exist in a process tree, so this module keeps one client per path per process and
  refuses, with a clear error, a second process (e.g. a prefork child) opening a path a parent
  opened. With local mode, run the pool that writes vectors (the retriever) as one process
  (threads pool) and let it be the only reader and writer.
* **a server** (``VectorStore(url=...)``): any number of processes; use it for a fleet.

Collections: one per arm (``coder_memory``, ``retriever_memory``, ...) and ``knowledge_base``
(the retriever's corpus), all ``dim``-dimensional (384: all-MiniLM-L6-v2) with cosine distance.
Errors from qdrant-client are wrapped here: unreachable server -> ``StorageUnavailable``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from octollm.errors import InvalidInput, PermanentError, StorageUnavailable
from octollm.memory.filters import Filters

KNOWLEDGE_BASE = "knowledge_base"
ARM_COLLECTIONS = frozenset(
    f"{arm}_memory" for arm in ("planner", "retriever", "coder", "executor", "judge", "guardian")
)


def arm_collection(arm: str) -> str:
    """The episodic-memory collection of ``arm`` (``coder`` -> ``coder_memory``)."""
    if not arm.isidentifier() or not arm.islower():
        raise InvalidInput(f"bad arm name {arm!r}")
    return f"{arm}_memory"


@dataclass(frozen=True)
class VectorPoint:
    id: str  # a UUID string (Qdrant accepts UUIDs or unsigned integers)
    vector: list[float]
    payload: dict[str, Any]


@dataclass(frozen=True)
class VectorHit:
    id: str
    score: float  # cosine similarity, -1..1
    payload: dict[str, Any]


class Vectors(Protocol):
    """Collections of ``dim``-dimensional cosine vectors with JSON payloads, filtered with
    ``octollm.memory.filters`` (the same meaning in every backend). ``local``: one process
    owns the store (Qdrant local mode); else any number of processes and hosts share it."""

    dim: int
    local: bool

    def ensure_collection(self, name: str) -> None: ...

    def upsert(self, collection: str, points: Sequence[VectorPoint]) -> None: ...

    def search(
        self,
        collection: str,
        vector: Sequence[float],
        *,
        limit: int = 10,
        filters: Filters | None = None,
        score_threshold: float | None = None,
    ) -> list[VectorHit]: ...

    def scroll(
        self, collection: str, *, filters: Filters | None = None, batch: int = 512
    ) -> Iterator[VectorHit]: ...

    def delete(self, collection: str, filters: Filters) -> None: ...

    def count(self, collection: str, filters: Filters | None = None) -> int: ...

    def close(self) -> None: ...


def check_points(dim: int, points: Sequence[VectorPoint]) -> None:
    """Refuse a point of the wrong dimension before it reaches a backend."""
    for point in points:
        if len(point.vector) != dim:
            raise InvalidInput(
                "vector has the wrong dimension",
                details={"expected": dim, "received": len(point.vector)},
            )


_local: dict[str, tuple[int, QdrantClient]] = {}
_local_lock = threading.Lock()


def _local_client(path: Path) -> QdrantClient:
    """The process's one client for ``path`` (Qdrant local mode locks the directory)."""
    key = str(path.resolve())
    with _local_lock:
        found = _local.get(key)
        if found is not None:
            pid, client = found
            if pid == os.getpid():
                return client
            raise PermanentError(
                "Qdrant local mode is single-process: this directory was opened by a parent "
                "process; run the retriever pool as one process or point it at a Qdrant server",
                details={"path": key},
            )
        path.mkdir(parents=True, exist_ok=True)
        try:
            client = QdrantClient(path=key)
        except RuntimeError as exc:  # "already accessed by another instance of Qdrant client"
            raise PermanentError(
                "another process holds the Qdrant local-mode directory; use a Qdrant server "
                "for more than one process",
                details={"path": key},
            ) from exc
        _local[key] = (os.getpid(), client)
        return client


def close_local_clients(path: Path | str | None = None) -> None:
    """Close this process's local-mode client for ``path``, or all of them (tests, shutdown)."""
    wanted = None if path is None else str(Path(path).resolve())
    with _local_lock:
        for key, (pid, client) in list(_local.items()):
            if wanted is not None and key != wanted:
                continue
            if pid == os.getpid():
                client.close()
            del _local[key]


def to_qdrant_filter(filters: Filters | None) -> models.Filter | None:
    """Translate an ``octollm.memory.filters`` mapping into a Qdrant filter."""
    if not filters:
        return None
    must: list[models.Condition] = []
    for path, cond in filters.items():
        if isinstance(cond, dict):
            must.append(models.FieldCondition(key=path, range=models.Range(**cond)))
        elif isinstance(cond, list):
            must.append(models.FieldCondition(key=path, match=models.MatchAny(any=cond)))
        elif isinstance(cond, float):
            must.append(models.FieldCondition(key=path, range=models.Range(gte=cond, lte=cond)))
        else:
            must.append(models.FieldCondition(key=path, match=models.MatchValue(value=cond)))
    return models.Filter(must=must)


class VectorStore:
    """Collections of ``dim``-dimensional cosine vectors with JSON payloads."""

    def __init__(
        self,
        *,
        path: Path | str | None = None,
        url: str | None = None,
        api_key: str | None = None,
        dim: int = 384,
        timeout_seconds: float = 10.0,
    ) -> None:
        if (path is None) == (url is None):
            raise InvalidInput("VectorStore needs exactly one of path (local mode) or url")
        self.dim = dim
        self.local = path is not None
        if path is not None:
            self._client = _local_client(Path(path))
        else:
            self._client = QdrantClient(url=url, api_key=api_key, timeout=int(timeout_seconds))
        self._known: set[str] = set()
        # Local mode keeps collections in Python dicts; serialise access from threads.
        self._lock = threading.RLock()

    def ensure_collection(self, name: str) -> None:
        """Create ``name`` (dim, cosine) unless it exists; cached after the first call."""
        if name in self._known:
            return
        with self._lock, _wrapped(name):
            if not self._client.collection_exists(name):
                self._client.create_collection(
                    name,
                    vectors_config=models.VectorParams(
                        size=self.dim, distance=models.Distance.COSINE
                    ),
                    hnsw_config=models.HnswConfigDiff(
                        m=16, ef_construct=100, full_scan_threshold=10_000
                    ),
                )
                if not self.local:  # payload indexes do nothing in local mode
                    for key in ("source", "tenant"):  # tenant: every knowledge query filters it
                        self._client.create_payload_index(
                            name, key, field_schema=models.PayloadSchemaType.KEYWORD
                        )
            self._known.add(name)

    def upsert(self, collection: str, points: Sequence[VectorPoint]) -> None:
        if not points:
            return
        check_points(self.dim, points)
        self.ensure_collection(collection)
        structs = [models.PointStruct(id=p.id, vector=p.vector, payload=p.payload) for p in points]
        with self._lock, _wrapped(collection):
            self._client.upsert(collection, points=structs, wait=True)

    def search(
        self,
        collection: str,
        vector: Sequence[float],
        *,
        limit: int = 10,
        filters: Filters | None = None,
        score_threshold: float | None = None,
    ) -> list[VectorHit]:
        """Nearest points by cosine, best first, among those matching ``filters``."""
        self.ensure_collection(collection)
        with self._lock, _wrapped(collection):
            response = self._client.query_points(
                collection,
                query=list(vector),
                limit=limit,
                query_filter=to_qdrant_filter(filters),
                score_threshold=score_threshold,
                with_payload=True,
            )
        return [
            VectorHit(str(p.id), float(p.score), dict(p.payload or {})) for p in response.points
        ]

    def scroll(
        self, collection: str, *, filters: Filters | None = None, batch: int = 512
    ) -> Iterator[VectorHit]:
        """Every point's id and payload (score 0), in pages of ``batch``."""
        self.ensure_collection(collection)
        offset: models.ExtendedPointId | None = None
        while True:
            with self._lock, _wrapped(collection):
                points, offset = self._client.scroll(
                    collection,
                    scroll_filter=to_qdrant_filter(filters),
                    limit=batch,
                    offset=offset,
                    with_payload=True,
                    with_vectors=False,
                )
            for p in points:
                yield VectorHit(str(p.id), 0.0, dict(p.payload or {}))
            if offset is None:
                return

    def delete(self, collection: str, filters: Filters) -> None:
        """Delete the points matching ``filters`` (an empty filter is refused)."""
        if not filters:
            raise InvalidInput("refusing to delete a whole collection through a filter")
        self.ensure_collection(collection)
        selector = models.FilterSelector(filter=to_qdrant_filter(filters) or models.Filter())
        with self._lock, _wrapped(collection):
            self._client.delete(collection, points_selector=selector, wait=True)

    def count(self, collection: str, filters: Filters | None = None) -> int:
        self.ensure_collection(collection)
        with self._lock, _wrapped(collection):
            result = self._client.count(
                collection, count_filter=to_qdrant_filter(filters), exact=True
            )
        return int(result.count)

    def close(self) -> None:
        """Close a server client; local-mode clients are per process (``close_local_clients``)."""
        if not self.local:
            self._client.close()


class _wrapped:
    """Turn qdrant-client transport failures into octollm's storage errors."""

    def __init__(self, collection: str) -> None:
        self.collection = collection

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, _: Any) -> None:
        if exc is None:
            return
        if isinstance(exc, ResponseHandlingException | ConnectionError | TimeoutError):
            raise StorageUnavailable(
                f"Qdrant unavailable: {exc!s}"[:500], details={"collection": self.collection}
            ) from exc
        if isinstance(exc, UnexpectedResponse):
            status = exc.status_code or 0
            details: Mapping[str, Any] = {"collection": self.collection, "status": status}
            if status >= 500 or status == 429:
                raise StorageUnavailable("Qdrant error", details=dict(details)) from exc
            raise PermanentError("Qdrant rejected the request", details=dict(details)) from exc
