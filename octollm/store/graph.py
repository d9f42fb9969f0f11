"""The knowledge graph in Postgres: entities, relationships, atomic batches, traversal.

* ``write_batch`` writes several entities and the relationships between them in **one
  transaction**. A relationship names its ends either by position in the batch
  (``from_index``/``to_index``, as in OctoLLM's bulk write) or by an existing entity id. Any
  failure (a bad index, an unknown id, a constraint) writes nothing at all.
* ``traverse`` walks from one entity with a **recursive CTE** up to ``max_depth`` hops,
  following only ``relationship_types`` (when given) and entering only ``entity_types`` (when
  given; the start entity is always included). It returns the nodes with their depth (the
  shortest hop count) and the edges between returned nodes that the walk may follow.
  ``UNION`` (not ``UNION ALL``) over ``(id, depth)`` keeps cycles and diamonds finite.

**Tenant-scoped by construction**: a ``KnowledgeGraph`` is built for one tenant (``tenant=``
is required) and every statement carries it: entities and relationships are written with it,
read, deleted and walked only within it, and a relationship may end only at the tenant's own
entities. Another tenant's entity id answers exactly like an id that does not exist.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from octollm.errors import InvalidInput, NotFound
from octollm.store.db import Database
from octollm.store.graph_models import EntityRow, RelationshipRow

MAX_DEPTH = 6
Direction = Literal["out", "in", "both"]


@dataclass(frozen=True)
class Entity:
    id: str
    entity_type: str
    name: str
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Relationship:
    id: str
    from_entity_id: str
    to_entity_id: str
    relationship_type: str
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class NewEntity:
    entity_type: str
    name: str
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class NewRelationship:
    """Ends by batch position (``from_index``) or by an existing id (``from_id``)."""

    relationship_type: str
    from_index: int | None = None
    to_index: int | None = None
    from_id: str | None = None
    to_id: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GraphNode:
    entity: Entity
    depth: int


@dataclass(frozen=True)
class Subgraph:
    nodes: list[GraphNode]
    edges: list[Relationship]

    def node_ids(self) -> set[str]:
        return {node.entity.id for node in self.nodes}


def _check_label(value: str, what: str, limit: int = 50) -> str:
    if not value or len(value) > limit:
        raise InvalidInput(f"{what} must be 1..{limit} characters", details={what: value[:80]})
    return value


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError) as exc:
        raise InvalidInput(f"{what} is not a UUID", details={what: str(value)[:80]}) from exc


def _entity(row: EntityRow) -> Entity:
    return Entity(str(row.id), row.entity_type, row.name, dict(row.properties or {}))


def _relationship(row: RelationshipRow) -> Relationship:
    return Relationship(
        str(row.id),
        str(row.from_entity_id),
        str(row.to_entity_id),
        row.relationship_type,
        dict(row.properties or {}),
    )


_STEP = {
    "out": ("r.from_entity_id = w.id", "r.to_entity_id"),
    "in": ("r.to_entity_id = w.id", "r.from_entity_id"),
    "both": (
        "(r.from_entity_id = w.id OR r.to_entity_id = w.id)",
        "CASE WHEN r.from_entity_id = w.id THEN r.to_entity_id ELSE r.from_entity_id END",
    ),
}


def _walk_sql(direction: Direction) -> str:
    on, other = _STEP[direction]
    return f"""
        WITH RECURSIVE walk(id, depth) AS (
            SELECT e.id, 0 FROM entities e
             WHERE e.id = CAST(:start AS uuid) AND e.tenant = :tenant
            UNION
            SELECT nxt.id, w.depth + 1
            FROM walk w
            JOIN relationships r ON {on} AND r.tenant = :tenant
            JOIN entities nxt ON nxt.id = {other} AND nxt.tenant = :tenant
            WHERE w.depth < :max_depth
              AND (CAST(:rel_types AS text[]) IS NULL OR r.relationship_type = ANY(:rel_types))
              AND (CAST(:ent_types AS text[]) IS NULL OR nxt.entity_type = ANY(:ent_types))
        )
        SELECT id, min(depth) AS depth FROM walk GROUP BY id ORDER BY min(depth), id
    """  # noqa: S608  (only the fixed fragments in _STEP are interpolated)


class KnowledgeGraph:
    """One tenant's entities and relationships over octollm's Postgres (``Database``)."""

    def __init__(self, db: Database, *, tenant: str) -> None:
        if not tenant:
            raise InvalidInput("the knowledge graph needs the tenant it serves")
        self._db = db
        self.tenant = tenant

    def _own(self, session: Any, entity_id: str) -> EntityRow | None:
        row = session.get(EntityRow, _uuid(entity_id, "entity_id"))
        return row if row is not None and row.tenant == self.tenant else None

    def add_entity(
        self, entity_type: str, name: str, properties: Mapping[str, Any] | None = None
    ) -> Entity:
        return self.write_batch([NewEntity(entity_type, name, dict(properties or {}))], [])[0][0]

    def add_relationship(
        self,
        from_id: str,
        to_id: str,
        relationship_type: str,
        properties: Mapping[str, Any] | None = None,
    ) -> Relationship:
        rel = NewRelationship(
            relationship_type, from_id=from_id, to_id=to_id, properties=dict(properties or {})
        )
        return self.write_batch([], [rel])[1][0]

    def write_batch(
        self, entities: Sequence[NewEntity], relationships: Sequence[NewRelationship]
    ) -> tuple[list[Entity], list[Relationship]]:
        """Insert every entity and relationship in one transaction, or none of them."""
        entity_rows = [
            EntityRow(
                id=uuid.uuid4(),
                tenant=self.tenant,
                entity_type=_check_label(e.entity_type, "entity_type"),
                name=_check_label(e.name, "name", 255),
                properties=dict(e.properties),
            )
            for e in entities
        ]
        rel_rows = [
            RelationshipRow(
                id=uuid.uuid4(),
                tenant=self.tenant,
                from_entity_id=self._end(r.from_index, r.from_id, entity_rows, "from"),
                to_entity_id=self._end(r.to_index, r.to_id, entity_rows, "to"),
                relationship_type=_check_label(r.relationship_type, "relationship_type"),
                properties=dict(r.properties),
            )
            for r in relationships
        ]
        batch_ids = {row.id for row in entity_rows}
        named = {end for r in rel_rows for end in (r.from_entity_id, r.to_entity_id)} - batch_ids
        with self._db.session() as session:
            if named:
                own = set(
                    session.scalars(
                        select(EntityRow.id).where(
                            EntityRow.id.in_(named), EntityRow.tenant == self.tenant
                        )
                    )
                )
                if own != named:
                    raise InvalidInput(
                        "knowledge-graph batch names an entity that does not exist; "
                        "nothing was written",
                        details={"unknown": sorted(str(i) for i in named - own)[:10]},
                    )
            session.add_all(entity_rows)
            try:
                session.flush()  # entities first: relationships reference them
                session.add_all(rel_rows)
                session.flush()
            except IntegrityError as exc:
                raise InvalidInput(
                    "knowledge-graph batch rejected; nothing was written",
                    details={
                        "sqlstate": getattr(exc.orig, "sqlstate", None),
                        "error": str(exc.orig)[:300],
                    },
                ) from exc
            return [_entity(r) for r in entity_rows], [_relationship(r) for r in rel_rows]

    @staticmethod
    def _end(
        index: int | None, entity_id: str | None, batch: Sequence[EntityRow], side: str
    ) -> uuid.UUID:
        if (index is None) == (entity_id is None):
            raise InvalidInput(f"a relationship needs exactly one of {side}_index or {side}_id")
        if index is not None:
            if not 0 <= index < len(batch):
                raise InvalidInput(
                    f"{side}_index {index} is outside the batch", details={"size": len(batch)}
                )
            return batch[index].id
        return _uuid(str(entity_id), f"{side}_id")

    def get_entity(self, entity_id: str) -> Entity | None:
        with self._db.session() as session:
            row = self._own(session, entity_id)
            return _entity(row) if row is not None else None

    def delete_entity(self, entity_id: str) -> bool:
        """Delete an entity; its relationships go with it (ON DELETE CASCADE)."""
        with self._db.session() as session:
            row = self._own(session, entity_id)
            if row is None:
                return False
            session.delete(row)
            return True

    def traverse(
        self,
        start_id: str,
        *,
        max_depth: int = 2,
        relationship_types: Sequence[str] | None = None,
        entity_types: Sequence[str] | None = None,
        direction: Direction = "out",
    ) -> Subgraph:
        """Entities reachable from ``start_id`` within ``max_depth`` hops, and their edges."""
        if not 0 <= max_depth <= MAX_DEPTH:
            raise InvalidInput(f"max_depth must be 0..{MAX_DEPTH}")
        if direction not in _STEP:
            raise InvalidInput("direction must be out, in or both")
        start = _uuid(start_id, "start_id")
        rel_types = list(relationship_types) if relationship_types else None
        params = {
            "start": str(start),
            "max_depth": max_depth,
            "rel_types": rel_types,
            "ent_types": list(entity_types) if entity_types else None,
            "tenant": self.tenant,
        }
        with self._db.session() as session:
            depth_of = {
                row.id: int(row.depth)
                for row in session.execute(text(_walk_sql(direction)), params)
            }
            if not depth_of:
                raise NotFound("entity not found", details={"entity_id": start_id})
            rows = session.scalars(
                select(EntityRow).where(EntityRow.id.in_(depth_of), EntityRow.tenant == self.tenant)
            ).all()
            edge_query = select(RelationshipRow).where(
                RelationshipRow.tenant == self.tenant,
                RelationshipRow.from_entity_id.in_(depth_of),
                RelationshipRow.to_entity_id.in_(depth_of),
            )
            if rel_types:
                edge_query = edge_query.where(RelationshipRow.relationship_type.in_(rel_types))
            edges = session.scalars(edge_query.order_by(RelationshipRow.created_at)).all()
        nodes = sorted(
            (GraphNode(_entity(row), depth_of[row.id]) for row in rows),
            key=lambda n: (n.depth, n.entity.name, n.entity.id),
        )
        return Subgraph(
            nodes,
            [_relationship(e) for e in edges if self._walkable(e, depth_of, max_depth, direction)],
        )

    @staticmethod
    def _walkable(
        edge: RelationshipRow, depth_of: Mapping[uuid.UUID, int], max_depth: int, direction: str
    ) -> bool:
        """An edge the walk could have followed: leaving a node that was not at the limit."""
        near = {"out": [edge.from_entity_id], "in": [edge.to_entity_id]}.get(
            direction, [edge.from_entity_id, edge.to_entity_id]
        )
        return any(depth_of[n] < max_depth for n in near)
