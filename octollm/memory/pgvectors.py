"""The pgvector backend of ``Vectors``: the arms' vector memory in the database they share.

Any number of retriever and coder processes, on any number of hosts, read and write the same
points (``octollm.store.vectors`` holds the table and its SQL). Collections need no creation:
they are a column; the first use in a process makes sure the table exists (it needs the
pgvector extension in PostgreSQL, and says so in one line when it is missing). Filters mean
what they mean in Qdrant and in ``filters.matches``; every statement is ANDed with them, so a
tenant's condition is as strict as with Qdrant.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

from octollm.errors import InvalidInput
from octollm.memory.filters import Filters
from octollm.memory.vectors import VectorHit, VectorPoint, check_points
from octollm.store import vectors as table
from octollm.store.db import Database


class PgVectorStore:
    """``Vectors`` over the ``memory_vectors`` table of ``db``."""

    local = False

    def __init__(self, db: Database, *, dim: int = 384) -> None:
        self.dim = dim
        self._db = db
        self._ready = False
        self._lock = threading.Lock()

    def ensure_collection(self, name: str) -> None:
        if not name:
            raise InvalidInput("a collection needs a name")
        if self._ready:
            return
        with self._lock:
            if not self._ready:
                table.ensure_schema(self._db)
                self._ready = True

    def upsert(self, collection: str, points: Sequence[VectorPoint]) -> None:
        if not points:
            return
        check_points(self.dim, points)
        self.ensure_collection(collection)
        table.upsert(self._db, collection, [(p.id, p.vector, p.payload) for p in points])

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
        if len(vector) != self.dim:
            raise InvalidInput(
                "query vector has the wrong dimension",
                details={"expected": self.dim, "received": len(vector)},
            )
        self.ensure_collection(collection)
        rows = table.search(self._db, collection, vector, limit=limit, filters=filters)
        return [
            VectorHit(r.id, r.score, r.payload)
            for r in rows
            if score_threshold is None or r.score >= score_threshold
        ]

    def scroll(
        self, collection: str, *, filters: Filters | None = None, batch: int = 512
    ) -> Iterator[VectorHit]:
        """Every point's id and payload (score 0), in pages of ``batch``."""
        self.ensure_collection(collection)
        for r in table.scroll(self._db, collection, filters=filters, batch=batch):
            yield VectorHit(r.id, 0.0, r.payload)

    def delete(self, collection: str, filters: Filters) -> None:
        """Delete the points matching ``filters`` (an empty filter is refused)."""
        if not filters:
            raise InvalidInput("refusing to delete a whole collection through a filter")
        self.ensure_collection(collection)
        table.delete(self._db, collection, filters)

    def count(self, collection: str, filters: Filters | None = None) -> int:
        self.ensure_collection(collection)
        return table.count(self._db, collection, filters)

    def close(self) -> None:
        """Nothing of its own to close: the process's database pool outlives it."""
