"""Shared memory against real services: Redis (DB 5), Postgres, Qdrant local mode, pgvector
(the vector tests run on both backends)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest

from octollm.errors import InvalidInput, NotFound
from octollm.memory.cache import Cache, arm_key, cache_key, stable_key
from octollm.memory.vectors import (
    KNOWLEDGE_BASE,
    VectorPoint,
    Vectors,
    VectorStore,
    arm_collection,
    close_local_clients,
)
from tests.support import services, session
from tests.support.services import database_url, require
from tests.support.stack import wait_until
from tests.support.vectors import pgvector_store

# DB 5 of the session's private Redis; the database is this session's own (two runs at once)
REDIS_URL = os.environ.get("OCTOLLM_TEST_MEMORY_REDIS_URL") or (
    services.REDIS_URL.rsplit("/", 1)[0] + "/5"
)
DATABASE = session.database_name("memory")

# -- Redis cache --------------------------------------------------------------------------


@pytest.fixture
def cache() -> Iterator[Cache]:
    require("Redis", REDIS_URL, 6379)
    cache = Cache.from_url(REDIS_URL)
    cache._redis.flushdb()  # DB 5 belongs to these tests
    yield cache
    cache._redis.flushdb()
    cache.close()


def test_keys_are_namespaced_by_area_kind_and_arm():
    assert cache_key("task", "status", "t-1") == "octollm:task:status:t-1"
    assert arm_key("coder", "result", "abc") == "octollm:arm:coder:result:abc"
    with pytest.raises(InvalidInput):
        cache_key("Task", "status", "x")
    with pytest.raises(InvalidInput):
        arm_key("coder", "re:sult", "x")


def test_stable_key_is_sha256_of_canonical_json_whatever_the_key_order():
    assert stable_key({"b": 1, "a": [1, 2]}) == stable_key({"a": [1, 2], "b": 1})
    # the same on every run and process, unlike hash(): sha256 of the canonical bytes
    assert stable_key({"goal": "x", "n": 1}) == hashlib.sha256(b'{"goal":"x","n":1}').hexdigest()
    with pytest.raises(TypeError):
        stable_key({"when": object()})


def test_values_round_trip_as_json_with_the_default_ttl(cache):
    key = arm_key("coder", "result", stable_key({"goal": "sort a list"}))
    cache.set(key, {"code": "sorted(x)", "confidence": 0.9, "tags": ["py"]})
    assert cache.get(key) == {"code": "sorted(x)", "confidence": 0.9, "tags": ["py"]}
    assert 295 <= (cache.ttl(key) or 0) <= 300
    raw = cache._redis.get(key)
    assert raw is not None
    assert raw.startswith(b"{")


def test_a_value_expires_after_its_ttl(cache):
    key = cache_key("task", "status", "t-expiring")
    cache.set(key, "running", ttl=1)
    assert cache.get(key) == "running"
    wait_until(lambda: cache.get(key) is None, 5, "the key's expiry")  # Redis expires it
    assert cache.ttl(key) is None


def test_pattern_delete_walks_with_scan_and_spares_other_namespaces(cache):
    pipe = cache._redis.pipeline()
    for i in range(1203):
        pipe.set(arm_key("coder", "result", f"r{i}"), "1", ex=300)
    pipe.set(arm_key("judge", "validation", "v1"), "1", ex=300)
    pipe.set(cache_key("task", "status", "t1"), "1", ex=300)
    pipe.execute()

    def calls(command: str) -> int:
        return int(cache._redis.info("commandstats").get(f"cmdstat_{command}", {}).get("calls", 0))

    keys_before, scans_before = calls("keys"), calls("scan")
    assert cache.clear_arm("coder") == 1203
    assert calls("keys") == keys_before  # never KEYS
    assert calls("scan") > scans_before
    assert cache.get(arm_key("judge", "validation", "v1")) == 1
    assert cache.get(cache_key("task", "status", "t1")) == 1


def test_glob_characters_in_ids_cannot_widen_a_pattern_delete(cache):
    cache.set(arm_key("coder", "result", "a*"), 1)
    cache.set(arm_key("coder", "result", "ab"), 2)
    cache.set(arm_key("coder", "other", "ab"), 3)
    assert cache.clear_arm("coder", "result") == 2
    assert cache.get(arm_key("coder", "other", "ab")) == 3
    with pytest.raises(InvalidInput):
        cache.delete_pattern("*")
    with pytest.raises(InvalidInput):
        cache.delete_pattern("octollm:*")


# -- Postgres knowledge graph -------------------------------------------------------------

TENANCY = "0007_h_tenancy"  # the graph's tenant column


@pytest.fixture(scope="module")
def db_url() -> Iterator[str]:
    from octollm.store.migrate import upgrade

    url = database_url(DATABASE)
    upgrade(url, TENANCY)
    yield url
    session.drop_database(DATABASE)


@pytest.fixture(scope="module")
def graph(db_url):
    from octollm.store.db import Database
    from octollm.store.graph import KnowledgeGraph

    db = Database(db_url)
    yield KnowledgeGraph(db, tenant="tenant-a")
    db.dispose()


def _count(db_url: str, table: str, marker: str) -> int:
    import psycopg

    with psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        column = "name" if table == "entities" else "relationship_type"
        row = conn.execute(
            f"SELECT count(*) FROM {table} WHERE {column} LIKE %s",  # noqa: S608
            (f"{marker}%",),
        ).fetchone()
        assert row is not None
        return int(row[0])


def test_the_memory_migration_matches_the_models_and_downgrades_cleanly(db_url):
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine, inspect

    import octollm.store.graph_models  # noqa: F401 - registers the graph tables
    from octollm.store.migrate import alembic_config, upgrade
    from octollm.store.models import Base

    metadata = Base.metadata

    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), metadata)
        ours = [d for d in diffs if "entities" in repr(d) or "relationships" in repr(d)]
        assert ours == []
        command.downgrade(alembic_config(db_url), "0006")
        assert "tenant" not in {c["name"] for c in inspect(engine).get_columns("entities")}
        upgrade(db_url, TENANCY)
        assert "tenant" in {c["name"] for c in inspect(engine).get_columns("relationships")}
    finally:
        engine.dispose()


def test_a_batch_with_a_bad_relationship_writes_nothing(graph, db_url):
    from octollm.store.graph import NewEntity, NewRelationship

    marker = f"atomic-{uuid.uuid4().hex[:8]}"
    entities = [NewEntity("tool", f"{marker}-a"), NewEntity("tool", f"{marker}-b")]
    good = NewRelationship(f"{marker}-uses", from_index=0, to_index=1)
    dangling = NewRelationship(f"{marker}-uses", from_index=0, to_id=str(uuid.uuid4()))
    with pytest.raises(InvalidInput, match="nothing was written"):
        graph.write_batch(entities, [good, dangling])
    assert _count(db_url, "entities", marker) == 0
    assert _count(db_url, "relationships", marker) == 0

    with pytest.raises(InvalidInput, match="outside the batch"):
        graph.write_batch(entities, [NewRelationship("uses", from_index=0, to_index=5)])
    assert _count(db_url, "entities", marker) == 0

    written, rels = graph.write_batch(entities, [good])
    assert _count(db_url, "entities", marker) == 2
    assert rels[0].from_entity_id == written[0].id
    assert rels[0].to_entity_id == written[1].id


@pytest.fixture
def small_graph(graph):
    """library -uses-> tool -depends_on-> concept -uses-> file -uses-> library (a cycle)."""
    from octollm.store.graph import NewEntity, NewRelationship

    tag = uuid.uuid4().hex[:8]
    entities = [
        NewEntity("library", f"lib-{tag}", {"lang": "python"}),
        NewEntity("tool", f"tool-{tag}"),
        NewEntity("concept", f"concept-{tag}"),
        NewEntity("file", f"file-{tag}"),
        NewEntity("person", f"author-{tag}"),
    ]
    rels = [
        NewRelationship("uses", from_index=0, to_index=1),
        NewRelationship("depends_on", from_index=1, to_index=2),
        NewRelationship("uses", from_index=2, to_index=3),
        NewRelationship("uses", from_index=3, to_index=0),
        NewRelationship("created_by", from_index=0, to_index=4),
    ]
    written, _ = graph.write_batch(entities, rels)
    return {e.entity_type: e for e in written}


def _depths(subgraph):
    return {n.entity.entity_type: n.depth for n in subgraph.nodes}


def test_traversal_stops_at_max_depth_and_survives_cycles(graph, small_graph):
    start = small_graph["library"].id
    assert _depths(graph.traverse(start, max_depth=0)) == {"library": 0}
    sub = graph.traverse(start, max_depth=2)
    assert _depths(sub) == {"library": 0, "tool": 1, "person": 1, "concept": 2}
    assert {(e.relationship_type) for e in sub.edges} == {"uses", "created_by", "depends_on"}
    full = graph.traverse(start, max_depth=6)  # the cycle back to library ends the walk
    assert _depths(full)["library"] == 0
    assert _depths(full)["file"] == 3
    assert len(full.nodes) == 5


def test_traversal_follows_only_the_requested_relationship_and_entity_types(graph, small_graph):
    start = small_graph["library"].id
    uses = graph.traverse(start, max_depth=4, relationship_types=["uses"])
    assert _depths(uses) == {"library": 0, "tool": 1}
    assert all(e.relationship_type == "uses" for e in uses.edges)
    people = graph.traverse(start, max_depth=3, entity_types=["person"])
    assert _depths(people) == {"library": 0, "person": 1}
    incoming = graph.traverse(small_graph["tool"].id, max_depth=1, direction="in")
    assert _depths(incoming) == {"tool": 0, "library": 1}


def test_deleting_an_entity_cascades_to_its_relationships(graph, small_graph):
    assert graph.delete_entity(small_graph["tool"].id)
    sub = graph.traverse(small_graph["library"].id, max_depth=3)
    assert "tool" not in _depths(sub)
    assert graph.get_entity(small_graph["tool"].id) is None
    with pytest.raises(NotFound):
        graph.traverse(small_graph["tool"].id)


def test_another_tenants_graph_is_invisible_and_cannot_be_linked_to(graph, db_url):
    from octollm.store.db import Database
    from octollm.store.graph import KnowledgeGraph, NewEntity, NewRelationship

    secret = graph.add_entity("project", "MARKER_graph_tenant_a")
    db = Database(db_url)
    try:
        other = KnowledgeGraph(db, tenant="tenant-b")
        assert other.get_entity(secret.id) is None
        with pytest.raises(NotFound):
            other.traverse(secret.id)
        assert not other.delete_entity(secret.id)
        mine = other.add_entity("project", "tenant b's own")
        with pytest.raises(InvalidInput):
            other.add_relationship(mine.id, secret.id, "depends_on")
        with pytest.raises(InvalidInput):  # nor a batch that reaches into tenant a's graph
            other.write_batch(
                [NewEntity("person", "mallory")],
                [NewRelationship("knows", from_index=0, to_id=secret.id)],
            )
        assert [n.entity.name for n in other.traverse(mine.id, max_depth=3).nodes] == [
            "tenant b's own"
        ]
        assert graph.get_entity(secret.id) is not None
        with pytest.raises(InvalidInput):
            KnowledgeGraph(db, tenant="")
    finally:
        db.dispose()


# -- vectors: Qdrant local mode and pgvector --------------------------------------------


@pytest.fixture
def qdrant(tmp_path) -> Iterator[VectorStore]:
    store = VectorStore(path=tmp_path / "qdrant", dim=4)
    yield store
    close_local_clients(tmp_path / "qdrant")


@pytest.fixture(params=["qdrant", "pgvector"])
def vectors(request, tmp_path) -> Iterator[Vectors]:
    if request.param == "qdrant":
        yield request.getfixturevalue("qdrant")
        return
    yield from pgvector_store(dim=4)


def _unit(*xs: float) -> list[float]:
    norm = sum(x * x for x in xs) ** 0.5
    return [x / norm for x in xs]


def test_collections_are_created_on_first_use(vectors):
    collection = arm_collection("coder")
    assert collection == "coder_memory"
    assert vectors.count(collection) == 0  # first use creates it
    vectors.upsert(
        KNOWLEDGE_BASE, [VectorPoint(str(uuid.uuid4()), _unit(1, 0, 0, 0), {"source": "a"})]
    )
    assert vectors.count(KNOWLEDGE_BASE) == 1


def test_search_honours_payload_filters_and_ranks_by_cosine(vectors):
    points = [
        VectorPoint(str(uuid.uuid4()), _unit(1, 0, 0, 0), {"source": "a", "metadata": {"y": 1}}),
        VectorPoint(str(uuid.uuid4()), _unit(1, 1, 0, 0), {"source": "b", "metadata": {"y": 2}}),
        VectorPoint(str(uuid.uuid4()), _unit(0, 1, 0, 0), {"source": "c", "metadata": {"y": 3}}),
    ]
    vectors.upsert("coder_memory", points)
    hits = vectors.search("coder_memory", _unit(1, 0, 0, 0), limit=3)
    assert [h.payload["source"] for h in hits] == ["a", "b", "c"]
    assert hits[0].score == pytest.approx(1.0, abs=1e-6)
    filtered = vectors.search(
        "coder_memory", _unit(1, 0, 0, 0), limit=3, filters={"metadata.y": {"gte": 2}}
    )
    assert [h.payload["source"] for h in filtered] == ["b", "c"]
    any_of = vectors.search("coder_memory", _unit(1, 0, 0, 0), filters={"source": ["c", "a"]})
    assert {h.payload["source"] for h in any_of} == {"a", "c"}
    vectors.delete("coder_memory", {"source": "a"})
    assert vectors.count("coder_memory") == 2


def test_a_wrong_dimension_is_refused_before_reaching_qdrant(vectors):
    with pytest.raises(InvalidInput, match="dimension"):
        vectors.upsert("coder_memory", [VectorPoint(str(uuid.uuid4()), [1.0, 0.0], {})])


def test_a_second_process_cannot_open_a_local_mode_directory_in_use(qdrant, tmp_path):
    qdrant.count(KNOWLEDGE_BASE)
    script = (
        "from octollm.memory.vectors import VectorStore\n"
        "from octollm.errors import PermanentError\n"
        "try:\n"
        f"    VectorStore(path={str(tmp_path / 'qdrant')!r}, dim=4)\n"
        "except PermanentError as exc:\n"
        "    print('refused:', exc.message)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert "refused: another process holds the Qdrant local-mode directory" in done.stdout


PAYLOADS: list[dict[str, object]] = [
    {"tenant": "a", "source": "x", "metadata": {"year": 1789, "tags": ["red", "blue"]}},
    {"tenant": "a", "source": "y", "metadata": {"year": 1799.5, "flag": True}},
    {"tenant": "b", "source": "x", "metadata": {"year": "1789", "tags": "red", "n": 1}},
    {"tenant": "a-b", "source": "z", "metadata": {"flag": 1, "n": [1, 2]}},
    {"tenant": "c", "source": ["w", "x"], "metadata": {}},
    {"source": "x"},
]
FILTERS: list[dict[str, object]] = [
    {"tenant": "a"},
    {"tenant": "b"},
    {"tenant": ["a", "b"]},
    {"tenant": "a", "source": "x"},
    {"source": "x"},
    {"source": ["w"]},
    {"metadata.year": 1789},
    {"metadata.year": {"gte": 1789, "lt": 1800}},
    {"metadata.year": 1799.5},
    {"metadata.tags": "red"},
    {"metadata.tags": ["blue", "green"]},
    {"metadata.flag": True},
    {"metadata.flag": 1},
    {"metadata.n": 2},
    {"metadata.n": [1]},
    {"metadata.missing": "x"},
    {"tenant": "a", "metadata.year": {"gt": 1800}},
]


@pytest.mark.parametrize("filters", FILTERS, ids=[repr(f) for f in FILTERS])
def test_a_filter_selects_exactly_what_filters_matches_selects(vectors, filters):
    """Every backend gives a filter the one meaning of ``filters.matches``: the tenant walls
    of the knowledge base are these conditions, so no backend may be looser (or stricter)."""
    from octollm.memory.filters import check_filters, matches

    checked = check_filters(filters)
    ids = [str(uuid.uuid4()) for _ in PAYLOADS]
    pairs = enumerate(zip(ids, PAYLOADS, strict=True))
    vectors.upsert("knowledge_base", [VectorPoint(i, _unit(1, n, 0, 1), p) for n, (i, p) in pairs])
    expected = {i for i, p in zip(ids, PAYLOADS, strict=True) if matches(p, checked)}
    assert {h.id for h in vectors.scroll("knowledge_base", filters=checked)} == expected
    found = vectors.search("knowledge_base", _unit(1, 0, 0, 1), limit=10, filters=checked)
    assert {h.id for h in found} == expected
    assert vectors.count("knowledge_base", checked) == len(expected)
