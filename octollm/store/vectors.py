"""The ``memory_vectors`` table: the arms' vector memory in PostgreSQL (pgvector).

The fleet's vector backend (``memory.vector_backend = "pgvector"``): every retriever and coder
process on every host reads and writes the same rows through the database they already use;
no directory lock, no extra service. ``octollm.memory.pgvectors`` puts the memory layer's
``Vectors`` interface on these functions.

One table for every collection: ``(collection, id)`` is the key, ``embedding`` a ``vector`` of
any dimension with its ``dim`` beside it, ``payload`` the point's JSON, ``tenant`` a stored
copy of ``payload->>'tenant'`` (indexed with the collection: every knowledge query names its
tenant). Vectors of all-MiniLM-L6-v2's 384 dimensions have an HNSW index (cosine) on
``embedding::vector(384)``; other dimensions are searched exactly.

**Filters** (the memory layer's ``Filters``: equal, any-of, range over dotted payload paths) are
SQL/JSON path predicates with their values bound as path variables, never spliced into the
text: ``jsonb_path_exists(payload, '$."metadata"."year" ? (@ >= $gte && @ < $lt)', vars)``.
Lax mode makes an array value match when any element does, as in Qdrant; a value of another
JSON type never matches (a string is not a number, a boolean not an integer). A query's
filters are ANDed with the collection, so a tenant condition holds on every statement. One
deliberate difference: an equality on ``tenant`` also goes through the indexed ``tenant``
column, so a point whose stored tenant is not that string (an array holding it, say) is not
selected, where Qdrant would match the element: stricter, never looser (octollm writes the
tenant as a string).

**Schema**: migration ``0009_h_fleet`` runs ``SCHEMA`` when the database offers the
``vector`` extension; ``ensure_schema`` runs the same idempotent statements on a backend's
first use (under an advisory lock), so a database that gets pgvector after migrating works
too. Without the extension it raises one line naming the fix.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from octollm.errors import InvalidInput, PermanentError
from octollm.store.db import Database

TABLE = "memory_vectors"
#: all-MiniLM-L6-v2's dimension: the one with an approximate-nearest-neighbour index.
INDEXED_DIM = 384
_SCHEMA_LOCK = 0x6F63746F766563  # pg_advisory_xact_lock key: "octovec"

SCHEMA: tuple[str, ...] = (
    "CREATE EXTENSION IF NOT EXISTS vector",
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        collection text NOT NULL,
        id uuid NOT NULL,
        dim integer NOT NULL,
        embedding vector NOT NULL,
        payload jsonb NOT NULL DEFAULT '{{}}'::jsonb,
        tenant text GENERATED ALWAYS AS (payload->>'tenant') STORED,
        CONSTRAINT pk_{TABLE} PRIMARY KEY (collection, id)
    )""",
    f"CREATE INDEX IF NOT EXISTS ix_{TABLE}_tenant ON {TABLE} (collection, tenant)",
    f"""CREATE INDEX IF NOT EXISTS ix_{TABLE}_hnsw_{INDEXED_DIM} ON {TABLE}
        USING hnsw ((embedding::vector({INDEXED_DIM})) vector_cosine_ops)
        WITH (m = 16, ef_construction = 100) WHERE dim = {INDEXED_DIM}""",
)
DROP = f"DROP TABLE IF EXISTS {TABLE}"

MISSING = (
    "memory.vector_backend=pgvector needs the pgvector extension in PostgreSQL: install it on "
    "the database host (scripts/pgvector), then restart"
)

_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}(\.[A-Za-z_][A-Za-z0-9_-]{0,63}){0,3}$")
_RANGE = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


@dataclass(frozen=True)
class Row:
    id: str
    score: float  # cosine similarity (search), 0 elsewhere
    payload: dict[str, Any]


def available(session: Session) -> bool:
    """Whether this PostgreSQL can create the ``vector`` extension."""
    found = session.execute(
        text("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
    ).first()
    return found is not None


def ensure_schema(db: Database) -> None:
    """Create the extension, table and indexes unless they exist (idempotent, serialised)."""
    with db.session() as session:
        if not available(session):
            raise PermanentError(MISSING)
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
        for statement in SCHEMA:
            session.execute(text(statement))


def upsert(db: Database, collection: str, points: Sequence[tuple[str, list[float], Any]]) -> None:
    """Insert or replace ``(id, vector, payload)`` points of ``collection`` (one transaction)."""
    if not points:
        return
    rows = [
        {
            "c": collection,
            "id": pid,
            "dim": len(vector),
            "v": _vector(vector),
            "p": json.dumps(payload, ensure_ascii=False),
        }
        for pid, vector, payload in points
    ]
    with db.session() as session:
        session.execute(
            text(
                f"INSERT INTO {TABLE} (collection, id, dim, embedding, payload) "  # noqa: S608
                "VALUES (:c, CAST(:id AS uuid), :dim, CAST(:v AS vector), CAST(:p AS jsonb)) "
                "ON CONFLICT (collection, id) DO UPDATE SET dim = EXCLUDED.dim, "
                "embedding = EXCLUDED.embedding, payload = EXCLUDED.payload"
            ),
            rows,
        )


def search(
    db: Database,
    collection: str,
    vector: Sequence[float],
    *,
    limit: int,
    filters: Mapping[str, Any] | None,
) -> list[Row]:
    """The ``limit`` nearest points by cosine among those matching ``filters``, best first."""
    dim = len(vector)
    where, params = _where(collection, filters)
    # The index's expression and its partial condition as literals (``dim`` is an int), so
    # the planner can use the index for 384 dimensions.
    distance = f"(embedding::vector({dim}) <=> CAST(:q AS vector({dim})))"
    params.update(q=_vector(vector), k=int(limit))
    with db.session() as session:
        # Keep walking the HNSW graph until ``limit`` rows pass the filters (pgvector 0.8):
        # a tenant's few points among many are still found.
        session.execute(text("SET LOCAL hnsw.iterative_scan = strict_order"))
        session.execute(text(f"SET LOCAL hnsw.ef_search = {max(40, min(int(limit), 1000))}"))
        rows = session.execute(
            text(
                f"SELECT id, payload, 1 - {distance} AS score FROM {TABLE} "  # noqa: S608
                f"WHERE {where} AND dim = {dim} ORDER BY {distance} LIMIT :k"
            ),
            params,
        ).all()
    return [Row(str(r.id), float(r.score), dict(r.payload)) for r in rows]


def scroll(
    db: Database, collection: str, *, filters: Mapping[str, Any] | None, batch: int
) -> Iterator[Row]:
    """Every matching point's id and payload, in pages of ``batch`` (keyset on the id)."""
    where, params = _where(collection, filters)
    after: str | None = None
    while True:
        with db.session() as session:
            rows = session.execute(
                text(
                    f"SELECT id, payload FROM {TABLE} WHERE {where} "  # noqa: S608
                    "AND (CAST(:after AS uuid) IS NULL OR id > CAST(:after AS uuid)) "
                    "ORDER BY id LIMIT :batch"
                ),
                {**params, "after": after, "batch": int(batch)},
            ).all()
        for r in rows:
            yield Row(str(r.id), 0.0, dict(r.payload))
        if len(rows) < batch:
            return
        after = str(rows[-1].id)


def delete(db: Database, collection: str, filters: Mapping[str, Any]) -> int:
    """Delete the matching points of ``collection`` (an empty filter is refused)."""
    if not filters:
        raise InvalidInput("refusing to delete a whole collection through a filter")
    where, params = _where(collection, filters)
    with db.session() as session:
        statement = f"DELETE FROM {TABLE} WHERE {where}"  # noqa: S608
        result = session.execute(text(statement), params)
    return int(getattr(result, "rowcount", 0) or 0)


def count(db: Database, collection: str, filters: Mapping[str, Any] | None) -> int:
    where, params = _where(collection, filters)
    with db.session() as session:
        statement = f"SELECT count(*) FROM {TABLE} WHERE {where}"  # noqa: S608
        found = session.execute(text(statement), params)
        return int(found.scalar_one())


# -- filters (the f-strings above splice only this module's constants, integers and the
# clauses below, whose values are bound parameters: hence the S608 waivers)


def _where(collection: str, filters: Mapping[str, Any] | None) -> tuple[str, dict[str, Any]]:
    """``collection = :c`` ANDed with one path predicate per filter, and their parameters."""
    clauses = ["collection = :c"]
    params: dict[str, Any] = {"c": collection}
    for index, (path, condition) in enumerate((filters or {}).items()):
        predicate, variables = _predicate(path, condition)
        if path == "tenant" and isinstance(condition, str):
            clauses.append(f"tenant = :t{index}")  # the indexed column, and the same rule
            params[f"t{index}"] = condition
        clauses.append(
            f"jsonb_path_exists(payload, CAST(:path{index} AS jsonpath), "
            f"CAST(:vars{index} AS jsonb))"
        )
        params[f"path{index}"] = predicate
        params[f"vars{index}"] = json.dumps(variables)
    return " AND ".join(clauses), params


def _predicate(path: str, condition: Any) -> tuple[str, dict[str, Any]]:
    """A lax SQL/JSON path that holds when the payload at ``path`` meets ``condition``."""
    if not isinstance(path, str) or not _PATH.match(path):
        raise InvalidInput(f"bad filter key {path!r}", details={"key": str(path)})
    target = "$" + "".join(f'."{part}"' for part in path.split("."))
    if isinstance(condition, dict):
        if not condition or not set(condition) <= set(_RANGE):
            raise InvalidInput(f"filter {path!r}: a range uses only {sorted(_RANGE)}")
        tests = " && ".join(f"@ {_RANGE[op]} ${op}" for op in sorted(condition))
        return f"{target} ? ({tests})", {op: float(v) for op, v in condition.items()}
    if isinstance(condition, list):
        if not condition:
            raise InvalidInput(f"filter {path!r}: a list needs values")
        return f"{target} ? (@ == $any[*])", {"any": list(condition)}
    if isinstance(condition, float):  # a float compares as a range point
        return f"{target} ? (@ >= $v && @ <= $v)", {"v": condition}
    if isinstance(condition, str | bool | int):
        return f"{target} ? (@ == $v)", {"v": condition}
    raise InvalidInput(f"filter {path!r}: unsupported condition type {type(condition).__name__}")


def _vector(values: Sequence[float]) -> str:
    return "[" + ",".join(repr(float(v)) for v in values) + "]"
