"""The chat model as arms and adapters see it: a protocol and its result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from octollm.contracts.arm import TokenUsage


@dataclass(frozen=True)
class ChatResult:
    """One chat completion."""

    text: str
    usage: TokenUsage = field(default_factory=TokenUsage)
    model: str = ""
    parsed: Any = None  # the decoded JSON when a schema was requested and the reply parsed


@runtime_checkable
class ChatLLM(Protocol):
    """An OpenAI-compatible chat model."""

    def chat(
        self,
        messages: list[dict[str, str]],
        *,
        json_schema: dict[str, Any] | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        seed: int | None = None,
    ) -> ChatResult: ...
