"""What arms may ask of each other and of shared memory, as protocols (``ctx.services``).

The arm layer imports no I/O framework, so it names the collaborators it expects; the
orchestrator wires implementations (``orchestrator.collaborators``):

* ``ctx.services["arm_caller"]``: an ``ArmCaller``: calls another arm's capability through
  that arm's queue and waits for its answer, with a timeout, retries and a circuit breaker
  (``orchestrator.arm_call``). The caller's capability token must grant ``arm:call:<arm>``.
* ``ctx.services["coder_memory"]``: a ``SolutionMemory``: the coder's episodic memory
  (Qdrant ``coder_memory``): similar accepted solutions, and storing new ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from octollm.arms.base import ArmContext


@runtime_checkable
class ArmCaller(Protocol):
    def call(self, arm: str, input: Mapping[str, Any], ctx: ArmContext) -> dict[str, Any]:
        """The other arm's output for ``input``; raises an ``OctoError`` when it fails or does
        not answer in time (``ServiceUnavailable`` family: the caller may carry on without)."""
        ...


@runtime_checkable
class SolutionMemory(Protocol):
    def recall(self, instruction: str, language: str, limit: int = 3) -> list[dict[str, Any]]:
        """Accepted solutions similar to ``instruction``, best first: each with
        ``instruction``, ``code``, ``language``, ``score`` (cosine) and ``quality_score``."""
        ...

    def remember(self, instruction: str, code: str, language: str, *, quality_score: float) -> str:
        """Store an accepted solution; returns its id (the same for the same solution)."""
        ...
