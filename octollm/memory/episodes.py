"""The coder's episodic memory: accepted solutions in the Qdrant collection ``coder_memory``.

Each point is one solution. Its vector embeds the instruction plus the first 500 characters
of the code (OctoLLM's memory design); its payload holds ``instruction``, ``code``,
``language``, ``quality_score``, ``tested`` and ``created_at``. The point id is a UUID derived
from the sha256 of ``language|instruction|code``, so storing the same solution twice keeps one
point. ``recall`` filters by language and drops matches under ``min_score`` (cosine).

It implements ``octollm.arms.collaboration.SolutionMemory`` structurally (memory sits below the
arms and does not import them).
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any

from octollm.memory.embeddings import Embedder
from octollm.memory.vectors import VectorPoint, VectorStore, arm_collection

COLLECTION = arm_collection("coder")
CODE_PREFIX_CHARS = 500


def embedded_text(instruction: str, code: str) -> str:
    return f"{instruction.strip()}\n{code[:CODE_PREFIX_CHARS]}"


def solution_id(instruction: str, code: str, language: str) -> str:
    digest = hashlib.sha256(f"{language}|{instruction}|{code}".encode()).hexdigest()
    return str(uuid.UUID(digest[:32]))


class CoderMemory:
    def __init__(self, embedder: Embedder, vectors: VectorStore, *, min_score: float = 0.5) -> None:
        self._embedder = embedder
        self._vectors = vectors
        self.min_score = min_score

    def recall(self, instruction: str, language: str, limit: int = 3) -> list[dict[str, Any]]:
        self._vectors.ensure_collection(COLLECTION)
        (vector,) = self._embedder.embed([instruction.strip()])
        hits = self._vectors.search(COLLECTION, vector, limit=limit, filters={"language": language})
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
        point_id = solution_id(instruction, code, language)
        payload = {
            "instruction": instruction,
            "code": code,
            "language": language,
            "quality_score": round(float(quality_score), 3),
            "tested": tested,
            "created_at": datetime.now(UTC).isoformat(),
        }
        self._vectors.upsert(COLLECTION, [VectorPoint(point_id, vector, payload)])
        return point_id
