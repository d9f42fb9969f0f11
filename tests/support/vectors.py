"""The pgvector backend on a database of its own (a copy of the session's migrated template),
for tests that run the vector memory on both backends."""

from __future__ import annotations

from collections.abc import Iterator

from octollm.memory.pgvectors import PgVectorStore
from tests.support import session

BACKENDS = ("qdrant", "pgvector")


def pgvector_store(dim: int = 384) -> Iterator[PgVectorStore]:
    """A ``PgVectorStore`` over a fresh database, dropped afterwards (a generator fixture body)."""
    from octollm.store.db import Database

    name = session.database_name("vec")
    db = Database(session.create_database(name))
    try:
        yield PgVectorStore(db, dim=dim)
    finally:
        db.dispose()
        session.drop_database(name)
