"""What the chat client needs from whoever guards its network calls (retries, a breaker).

A protocol, so ``llm`` does not import ``resilience`` (siblings in the layer stack): the
process wiring (``orchestrator.providers``) hands a ``resilience.Guard`` to the client.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

T = TypeVar("T")


class CallGuard(Protocol):
    def call(self, fn: Callable[[], T]) -> T: ...


class Unguarded:
    """One attempt, no breaker: what a bare client does."""

    def call(self, fn: Callable[[], T]) -> T:
        return fn()
