"""Collaborators each arm receives through ``ctx.services``, built lazily once per process.

    every arm   arms            the installed arm names (plugins included)
    retriever   knowledge       QdrantKnowledgeBase: embedder + Qdrant + BM25 (one per process),
                                bound per step to the task row's tenant (``tenancy.bind``)
    coder       arm_caller      RedisArmCaller: the judge through its queue (arm_call)
                coder_memory    CoderMemory over Qdrant ``coder_memory`` (built on first use;
                                without Qdrant or the embedder the coder works without memory)
    (per step)  capability      the delivery's verified token (added by the runner)

**Tenancy.** What is built here is shared by every task the process runs, so a collaborator
that holds tenant data is built *unbound* (``for_tenant``) and ``orchestrator.tenancy.bind``
gives the arm the view of the task row's tenant for each step (``coder_memory``).

**Qdrant local mode** (no ``memory.qdrant_url``) lets one process open a directory: the
retriever pool is the only user of ``memory.qdrant_path`` (default ``<data_dir>/qdrant``) and
the coder pool of ``<qdrant_path>-coder``; run each as one threads-pool process. A second
process that tries gets a clear error (the retriever step fails; the coder goes without
memory and says so in its warnings). With a Qdrant server every process shares collections,
and so they do with ``memory.vector_backend = "pgvector"`` (the database's ``memory_vectors``).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import structlog

from octollm.arms.registry import known_arms
from octollm.config import Settings
from octollm.errors import OctoError
from octollm.orchestrator.runtime import Runtime

log = structlog.get_logger(__name__)

_built: dict[tuple[str, int], dict[str, Any]] = {}
_lock = threading.Lock()


def services_for(arm: str, rt: Runtime) -> dict[str, Any]:
    """``arm``'s collaborators in this process (built once per runtime)."""
    key = (arm, id(rt))
    with _lock:
        found = _built.get(key)
        if found is None:
            found = _built[key] = _build(arm, rt)
        return found


def _build(arm: str, rt: Runtime) -> dict[str, Any]:
    services: dict[str, Any] = {"arms": sorted(known_arms())}
    if arm == "retriever":
        knowledge = _knowledge(rt.settings)
        if knowledge is not None:
            services["knowledge"] = knowledge
    elif arm == "coder":
        from octollm.orchestrator.calls.caller import RedisArmCaller

        services["arm_caller"] = RedisArmCaller(rt, "coder")
        if rt.settings.memory.coder_memory:
            services["coder_memory"] = LazyCoderMemory(rt.settings)
    return services


def qdrant_path(settings: Settings, owner: str = "") -> Path:
    base = settings.memory.qdrant_path or settings.data_dir / "qdrant"
    return base if not owner else base.with_name(f"{base.name}-{owner}")


def _vectors(settings: Settings, owner: str = "") -> Any:
    cfg = settings.memory
    dim = 384 if cfg.embedder == "minilm" else cfg.embedding_dim
    if cfg.vector_backend == "pgvector":
        from octollm.memory.pgvectors import PgVectorStore
        from octollm.store.db import get_database

        return PgVectorStore(get_database(settings), dim=dim)
    from octollm.memory.vectors import VectorStore

    if cfg.qdrant_url:
        key = cfg.qdrant_api_key.get_secret_value() if cfg.qdrant_api_key else None
        return VectorStore(url=cfg.qdrant_url, api_key=key, dim=dim)
    return VectorStore(path=qdrant_path(settings, owner), dim=dim)


def _embedder(settings: Settings) -> Any:
    cfg = settings.memory
    if cfg.embedder == "endpoint":
        from octollm.memory.embeddings import EndpointEmbedder
        from octollm.orchestrator.calls.providers import chat_client

        return EndpointEmbedder(
            chat_client(settings),  # type: ignore[arg-type]
            dim=cfg.embedding_dim,
            model_name=settings.llm.model,
        )
    from octollm.memory.embeddings import MiniLMEmbedder

    return MiniLMEmbedder()


def _knowledge(settings: Settings) -> Any | None:
    try:
        from octollm.memory.knowledge import QdrantKnowledgeBase

        return QdrantKnowledgeBase(
            _embedder(settings),
            _vectors(settings),
            shared_corpus_tenants=frozenset(settings.memory.shared_corpus_tenants),
        )
    except (ImportError, OctoError) as exc:
        log.warning("knowledge_base_unavailable", error=str(exc)[:300])
        return None


class LazyCoderMemory:
    """The coder's episodic memory for this process, built on first use: the embedder and the
    vector store. It answers nothing itself: ``for_tenant`` gives a ``SolutionMemory`` bound to
    one tenant (``orchestrator.tenancy`` binds it per step from the task row). If the store
    cannot be built, recall finds nothing and remember stores nothing (the coder reports that
    it works without memory)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._parts: tuple[Any, Any] | None = None
        self._error: str | None = None
        self._lock = threading.Lock()

    @property
    def error(self) -> str | None:
        return self._error

    def parts(self) -> tuple[Any, Any]:
        """(embedder, vector store), built once."""
        with self._lock:
            if self._parts is None and self._error is None:
                try:
                    self._parts = (
                        _embedder(self._settings),
                        _vectors(self._settings, "coder"),
                    )
                except (ImportError, OctoError) as exc:
                    self._error = str(exc)[:300]
                    log.warning("coder_memory_unavailable", error=self._error)
            if self._parts is None:
                raise _Unavailable(self._error or "coder memory is unavailable")
            return self._parts

    def for_tenant(self, tenant: str) -> TenantCoderMemory:
        return TenantCoderMemory(self, tenant)


class TenantCoderMemory:
    """``SolutionMemory`` of one tenant over the process's ``LazyCoderMemory``."""

    def __init__(self, lazy: LazyCoderMemory, tenant: str) -> None:
        self._lazy = lazy
        self.tenant = tenant

    def _memory(self) -> Any:
        from octollm.memory.episodes import CoderMemory

        embedder, vectors = self._lazy.parts()
        return CoderMemory(embedder, vectors, tenant=self.tenant)

    def recall(self, instruction: str, language: str, limit: int = 3) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._memory().recall(instruction, language, limit)
        return result

    def remember(self, instruction: str, code: str, language: str, *, quality_score: float) -> str:
        return str(
            self._memory().remember(instruction, code, language, quality_score=quality_score)
        )


class _Unavailable(OctoError):
    code = "MEMORY_UNAVAILABLE"
