"""The LLM as a step sees it: metered, budgeted, cancellable.

Every call first checks cancellation, then asks the task's ledger what is left: a call whose
prompt alone (estimated at 4 characters a token) cannot fit, or for which no money is left, is
refused with ``BudgetExceeded`` before anything is sent; otherwise ``max_tokens`` is capped to
what is left. The call's real usage is then charged to the ledger (the task row) and to the
step's own account; a call that overshot raises ``BudgetExceeded`` after being charged.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from octollm.arms.base import ChatLLM, ChatResult
from octollm.config import Settings
from octollm.config.settings import LLMSettings
from octollm.contracts.arm import TokenUsage
from octollm.errors import BudgetExceeded
from octollm.orchestrator.calls.budget import Ledger

CHARS_PER_TOKEN = 4


def estimate_prompt_tokens(messages: list[dict[str, str]]) -> int:
    """A cautious guess made before the call (the reply's usage is what gets charged)."""
    return sum(len(m.get("content") or "") // CHARS_PER_TOKEN + 4 for m in messages)


class MeteredLLM:
    def __init__(
        self,
        inner: ChatLLM,
        settings: LLMSettings,
        ledger: Ledger,
        *,
        check: Callable[[], None] = lambda: None,
    ) -> None:
        self.inner = inner
        self.settings = settings
        self.ledger = ledger
        self.check = check
        self.usage = TokenUsage()
        self.cost = 0.0
        self.model = ""
        self.calls = 0
        self._lock = threading.Lock()

    def price(self, usage: TokenUsage) -> float:
        return (
            usage.prompt_tokens * self.settings.prompt_cost_per_1k
            + usage.completion_tokens * self.settings.completion_cost_per_1k
        ) / 1000.0

    def _cap(self, messages: list[dict[str, str]], requested: int) -> int:
        """The completion tokens this call may ask for; raises when it cannot fit at all."""
        tokens_left, cost_left = self.ledger.remaining()
        prompt = estimate_prompt_tokens(messages)
        cap = tokens_left - prompt
        if cap < 1:
            raise BudgetExceeded(
                f"LLM call refused: its prompt needs about {prompt} tokens and the task has "
                f"{max(tokens_left, 0)} of its max_tokens left",
                details={"tokens_left": tokens_left, "prompt_tokens_estimate": prompt},
            )
        per_completion = self.settings.completion_cost_per_1k / 1000.0
        prompt_cost = prompt * self.settings.prompt_cost_per_1k / 1000.0
        if cost_left <= 0 or prompt_cost >= cost_left:
            raise BudgetExceeded(
                f"LLM call refused: the task has ${max(cost_left, 0.0):.4f} of its max_cost_usd "
                f"left and the prompt alone costs about ${prompt_cost:.4f}",
                details={"cost_left_usd": cost_left, "prompt_cost_estimate_usd": prompt_cost},
            )
        if per_completion > 0 and cost_left != float("inf"):
            cap = min(cap, int((cost_left - prompt_cost) / per_completion))
            if cap < 1:
                raise BudgetExceeded(
                    f"LLM call refused: ${cost_left:.4f} left of max_cost_usd does not pay "
                    f"for a single completion token",
                    details={"cost_left_usd": cost_left},
                )
        return max(1, min(requested, cap))

    def chat(self, messages: list[dict[str, str]], **kwargs: Any) -> ChatResult:
        self.check()
        requested = int(kwargs.get("max_tokens") or self.settings.max_tokens)
        kwargs["max_tokens"] = self._cap(messages, requested)
        result = self.inner.chat(messages, **kwargs)
        cost = self.price(result.usage)
        with self._lock:
            self.usage = self.usage + result.usage
            self.cost += cost
            self.model = result.model or self.model
            self.calls += 1
        tokens_left, cost_left = self.ledger.charge(result.usage.total_tokens, cost)
        if tokens_left < 0:
            raise BudgetExceeded(
                f"token budget exceeded: the task is {-tokens_left} tokens over its max_tokens",
                details={"tokens_left": tokens_left},
            )
        if cost_left < 0:
            raise BudgetExceeded(
                f"cost budget exceeded: the task is ${-cost_left:.4f} over its max_cost_usd",
                details={"cost_left_usd": cost_left},
            )
        return result


def llm_for(settings: Settings) -> ChatLLM:
    """The process's LLM client (one per endpoint and model, with retries and the shared
    circuit breaker: ``providers``), or a stand-in that fails clearly."""
    if settings.llm.base_url is None:
        from octollm.arms.base import NoLLM

        return NoLLM()
    from octollm.orchestrator.calls.providers import chat_client

    return chat_client(settings)
