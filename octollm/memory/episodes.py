"""The coder's episodic memory: accepted solutions in the Qdrant collection ``coder_memory``.

Each point is one solution. Its vector embeds the instruction plus the first 500 characters
of the code (OctoLLM's memory design); its payload holds ``instruction``, ``code``,
``language``, ``quality_score``, ``tested``, ``created_at`` and ``tenant``. The point id is a
UUID derived from the sha256 of ``tenant|language|instruction|code``, so storing the same
solution twice keeps one point per tenant. ``recall`` filters by tenant and language and drops
matches under ``min_score`` (cosine).

**Tenant-scoped by construction.** A ``CoderMemory`` is bound to one tenant when it is built
(``tenant=`` is required): it writes only points carrying that tenant and recalls only them, so
no caller can forget the filter. The orchestrator builds one per step from the task row's
tenant (``orchestrator.tenancy``). A curated corpus shared by every tenant lives under the
tenant ``SHARED_TENANT``; a memory recalls from it only when built with ``include_shared=True``
(explicit opt-in). Points written before tenancy (no ``tenant`` payload) are never recalled.

It implements ``octollm.arms.collaboration.SolutionMemory`` structurally (memory sits below the
arms and does not import them).
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any

from octollm.errors import InvalidInput
from octollm.memory.embeddings import Embedder
from octollm.memory.filters import Filters
from octollm.memory.vectors import VectorPoint, Vectors, arm_collection

COLLECTION = arm_collection("coder")
CODE_PREFIX_CHARS = 500


def embedded_text(instruction: str, code: str) -> str:
    return f"{instruction.strip()}\n{code[:CODE_PREFIX_CHARS]}"


#: The tenant of the curated corpus every tenant may opt into (``include_shared=True``).
SHARED_TENANT = "_shared"


def solution_id(instruction: str, code: str, language: str, tenant: str) -> str:
    digest = hashlib.sha256(f"{tenant}|{language}|{instruction}|{code}".encode()).hexdigest()
    return str(uuid.UUID(digest[:32]))


class CoderMemory:
    """One tenant's view of the coder's episodic memory."""

    def __init__(
        self,
        embedder: Embedder,
        vectors: Vectors,
        *,
        tenant: str,
        include_shared: bool = False,
        min_score: float = 0.5,
    ) -> None:
        if not tenant:
            raise InvalidInput("the coder's memory needs the tenant it serves")
        self._embedder = embedder
        self._vectors = vectors
        self.tenant = tenant
        self.include_shared = include_shared
        self.min_score = min_score

    def _tenant_filter(self) -> str | list[str]:
        if self.include_shared and self.tenant != SHARED_TENANT:
            return [self.tenant, SHARED_TENANT]
        return self.tenant

    def recall(self, instruction: str, language: str, limit: int = 3) -> list[dict[str, Any]]:
        self._vectors.ensure_collection(COLLECTION)
        (vector,) = self._embedder.embed([instruction.strip()])
        filters: Filters = {"language": language, "tenant": self._tenant_filter()}
        hits = self._vectors.search(COLLECTION, vector, limit=limit, filters=filters)
        return [
            {
                "instruction": hit.payload.get("instruction", ""),
                "code": hit.payload.get("code", ""),
                "language": hit.payload.get("language", language),
                "quality_score": hit.payload.get("quality_score"),
                "score": round(hit.score, 4),
            }
            for hit in hits
            if hit.score >= self.min_score
        ]

    def remember(
        self,
        instruction: str,
        code: str,
        language: str,
        *,
        quality_score: float,
        tested: bool = False,
    ) -> str:
        self._vectors.ensure_collection(COLLECTION)
        (vector,) = self._embedder.embed([embedded_text(instruction, code)])
        point_id = solution_id(instruction, code, language, self.tenant)
        payload = {
            "tenant": self.tenant,
            "instruction": instruction,
            "code": code,
            "language": language,
            "quality_score": round(float(quality_score), 3),
            "tested": tested,
            "created_at": datetime.now(UTC).isoformat(),
        }
        self._vectors.upsert(COLLECTION, [VectorPoint(point_id, vector, payload)])
        return point_id
