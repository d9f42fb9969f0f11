"""The LLM as a step sees it: metered, budgeted, cancellable.

Every call first checks cancellation and the step's remaining token and cost budget, caps
``max_tokens`` to what is left, then adds the call's usage to the step's account. A step whose
next call cannot fit the task's budget is refused with ``BudgetExceeded``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from octollm.arms.base import ChatLLM, ChatResult
from octollm.config import Settings
from octollm.config.settings import LLMSettings
from octollm.contracts.arm import TokenUsage
from octollm.errors import BudgetExceeded


class MeteredLLM:
    def __init__(
        self,
        inner: ChatLLM,
        settings: LLMSettings,
        *,
        tokens_left: int,
        cost_left: float,
        check: Callable[[], None] = lambda: None,
    ) -> None:
        self.inner = inner
        self.settings = settings
        self.tokens_left = tokens_left
        self.cost_left = cost_left
        self.check = check
        self.usage = TokenUsage()
        self.cost = 0.0
        self.model = ""
        self.calls = 0
        self._lock = threading.Lock()

    def _price(self, usage: TokenUsage) -> float:
        return (
            usage.prompt_tokens * self.settings.prompt_cost_per_1k
            + usage.completion_tokens * self.settings.completion_cost_per_1k
        ) / 1000.0

    def chat(self, messages: list[dict[str, str]], **kwargs: Any) -> ChatResult:
        self.check()
        with self._lock:
            left = self.tokens_left - self.usage.total_tokens
            cost_left = self.cost_left - self.cost
        if left <= 0:
            raise BudgetExceeded(
                f"token budget exhausted: {self.usage.total_tokens} used by this step, none left",
                details={"tokens_left": left},
            )
        if cost_left < 0:
            raise BudgetExceeded(f"cost budget exhausted (${self.cost:.4f} spent by this step)")
        requested = kwargs.get("max_tokens") or self.settings.max_tokens
        kwargs["max_tokens"] = max(1, min(int(requested), left))
        result = self.inner.chat(messages, **kwargs)
        with self._lock:
            self.usage = self.usage + result.usage
            self.cost += self._price(result.usage)
            self.model = result.model or self.model
            self.calls += 1
            over_tokens = self.usage.total_tokens > self.tokens_left
            over_cost = self.cost > self.cost_left
        if over_tokens:
            raise BudgetExceeded(
                f"token budget exceeded: this step used {self.usage.total_tokens} tokens, "
                f"{self.tokens_left} were left"
            )
        if over_cost:
            raise BudgetExceeded(f"cost budget exceeded: ${self.cost:.4f} > ${self.cost_left:.4f} left")
        return result


@lru_cache(maxsize=4)
def _client(base_url: str, key: str, model: str, timeout: float, mode: str, temperature: float, max_tokens: int) -> ChatLLM:
    from octollm.llm.client import client_from_settings

    return client_from_settings(
        LLMSettings(
            base_url=base_url,
            api_key=key,  # type: ignore[arg-type]
            model=model,
            timeout_seconds=timeout,
            structured_output=mode,
            temperature=temperature,
            max_tokens=max_tokens,
        )
    )


def llm_for(settings: Settings) -> ChatLLM:
    """The process's LLM client (one per endpoint), or a stand-in that fails clearly."""
    llm = settings.llm
    if llm.base_url is None:
        from octollm.arms.base import NoLLM

        return NoLLM()
    return _client(
        llm.base_url,
        llm.api_key.get_secret_value(),
        llm.model,
        llm.timeout_seconds,
        llm.structured_output,
        llm.temperature,
        llm.max_tokens,
    )
