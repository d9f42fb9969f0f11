"""``Idempotency-Key`` on LLM calls: a step's calls carry keys derived from its
``ctx.idempotency_key``.

The runner opens a ``scope`` around an arm's run; inside it, every chat completion the client
sends carries ``Idempotency-Key: <step key>-<n>``, ``n`` counting the attempt's calls from 1.
The n-th call of a later attempt of the same step carries the same key as the n-th call of the
earlier one, so an endpoint that honours the header (OpenAI-compatible gateways that cache by
it) answers a re-run with the completion it already produced instead of charging for a new one.
Retries of one call (the client's guard) reuse its key. Endpoints that ignore the header lose
nothing. Threads an arm starts itself do not inherit the scope (a ``ContextVar``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

HEADER = "Idempotency-Key"

_scope: ContextVar[tuple[str, list[int]] | None] = ContextVar(
    "octollm_llm_idempotency", default=None
)


@contextmanager
def scope(key: str) -> Iterator[None]:
    """Number the LLM calls made inside the block under ``key`` (no-op for an empty key)."""
    token = _scope.set((key, [0]) if key else None)
    try:
        yield
    finally:
        _scope.reset(token)


def call_headers() -> dict[str, str]:
    """Headers for the next chat call: ``{HEADER: key-n}`` inside a scope, else nothing."""
    current = _scope.get()
    if current is None:
        return {}
    key, counter = current
    counter[0] += 1
    return {HEADER: f"{key}-{counter[0]}"}
