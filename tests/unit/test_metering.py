"""MeteredLLM: budgets checked before each call, usage charged after it."""

from __future__ import annotations

from typing import Any

import pytest

from octollm.arms.base import ChatResult
from octollm.config.settings import LLMSettings
from octollm.contracts.arm import TokenUsage
from octollm.errors import BudgetExceeded, Cancelled
from octollm.orchestrator.calls.budget import FixedLedger
from octollm.orchestrator.calls.metering import MeteredLLM, estimate_prompt_tokens


class ScriptedLLM:
    """A ChatLLM that answers with fixed usage and records the max_tokens it was given."""

    def __init__(self, prompt: int, completion: int) -> None:
        self.usage = TokenUsage(prompt_tokens=prompt, completion_tokens=completion)
        self.max_tokens: list[int | None] = []

    def chat(self, messages: list[dict[str, str]], **kwargs: Any) -> ChatResult:
        self.max_tokens.append(kwargs.get("max_tokens"))
        return ChatResult(text="ok", usage=self.usage, model="scripted")


MSG = [{"role": "user", "content": "x" * 40}]  # about 14 tokens by the estimate
PRICED = LLMSettings(prompt_cost_per_1k=1.0, completion_cost_per_1k=2.0, max_tokens=500)


def test_usage_is_charged_to_the_ledger_and_the_step_after_each_call() -> None:
    ledger = FixedLedger(1000, 10.0)
    llm = MeteredLLM(ScriptedLLM(10, 20), PRICED, ledger)
    llm.chat(MSG)
    llm.chat(MSG)
    assert llm.usage.total_tokens == 60
    assert llm.calls == 2
    assert llm.cost == pytest.approx(2 * (10 * 1.0 + 20 * 2.0) / 1000)
    assert ledger.tokens == 940
    assert ledger.cost == pytest.approx(10.0 - llm.cost)


def test_max_tokens_is_capped_to_what_the_task_has_left() -> None:
    inner = ScriptedLLM(10, 5)
    MeteredLLM(inner, PRICED, FixedLedger(100)).chat(MSG, max_tokens=400)
    assert inner.max_tokens == [100 - estimate_prompt_tokens(MSG)]


def test_a_call_whose_prompt_cannot_fit_is_refused_before_it_is_sent() -> None:
    inner = ScriptedLLM(10, 5)
    with pytest.raises(BudgetExceeded, match="refused: its prompt needs about 14 tokens"):
        MeteredLLM(inner, PRICED, FixedLedger(10)).chat(MSG)
    assert inner.max_tokens == []


def test_a_call_that_no_money_is_left_for_is_refused() -> None:
    inner = ScriptedLLM(10, 5)
    with pytest.raises(BudgetExceeded, match="max_cost_usd"):
        MeteredLLM(inner, PRICED, FixedLedger(1000, 0.0)).chat(MSG)
    # enough for the prompt, but the completion cap is derived from the money left
    MeteredLLM(inner, PRICED, FixedLedger(1000, 0.05)).chat(MSG, max_tokens=400)
    assert inner.max_tokens == [int((0.05 - 14 / 1000) / 0.002)]


def test_a_call_that_overshoots_is_charged_then_reported() -> None:
    ledger = FixedLedger(40)
    with pytest.raises(BudgetExceeded, match="over its max_tokens"):
        MeteredLLM(ScriptedLLM(30, 30), PRICED, ledger).chat(MSG)
    assert ledger.tokens == -20


def test_cancellation_is_checked_before_every_call() -> None:
    def cancelled() -> None:
        raise Cancelled("task was cancelled")

    inner = ScriptedLLM(1, 1)
    with pytest.raises(Cancelled):
        MeteredLLM(inner, PRICED, FixedLedger(100), check=cancelled).chat(MSG)
    assert inner.max_tokens == []
