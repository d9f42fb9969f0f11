"""Budgets on real workers: tokens and cost summed over a task's steps (against the scripted
OpenAI-protocol server), and the task deadline (``max_time_seconds``)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from octollm.contracts import TaskContract
from octollm.contracts.task import Budget
from octollm.orchestrator.engine import lifecycle
from tests.support.fake_llm import FakeLLM
from tests.support.stack import LiveStack, reconciling, steps_of, wait_for_task

PROMPT = "p" * 40  # 10 prompt tokens by the fake server's count (about 14 by our estimate)
REPLY = "x" * 400  # 100 completion tokens


def _two_chatters(calls_first: int) -> dict[str, Any]:
    return {
        "steps": [
            {
                "step_id": "c1",
                "arm": "chatter",
                "action": "talks",
                "input": {"prompt": PROMPT, "calls": calls_first},
            },
            {
                "step_id": "c2",
                "arm": "chatter",
                "action": "talks more",
                "depends_on": ["c1"],
                "input": {"prompt": PROMPT},
            },
        ]
    }


def test_a_step_whose_llm_call_would_exceed_the_task_budget_is_refused(
    stack: LiveStack, runtime: Any
) -> None:
    with FakeLLM(lambda _body: REPLY) as llm:
        stack.extra_env.update(
            OCTOLLM_LLM__BASE_URL=llm.base_url,
            OCTOLLM_LLM__STRUCTURED_OUTPUT="none",
            OCTOLLM_LLM__COMPLETION_COST_PER_1K="10",  # $0.01 a completion token
        )
        stack.start_fleet(["orchestrator", "chatter"])
        tokens = lifecycle.submit(
            runtime,
            TaskContract(
                goal="spend the token budget",
                plan=_two_chatters(calls_first=2),
                budget=Budget(max_tokens=230, max_cost_usd=100, max_retries=0),
            ),
        )
        row = wait_for_task(runtime, tokens.id)
        assert row.status == "failed"
        assert row.error["code"] == "BUDGET_EXCEEDED"
        assert "c2" in row.error["message"]
        assert "LLM call refused" in row.error["message"]
        assert "max_tokens" in row.error["message"]
        assert row.tokens_used == 220  # c1's two calls; c2's call was never sent
        assert len(llm.chat_requests) == 2
        steps = steps_of(runtime, tokens.id)
        assert (steps["c1"].status, steps["c1"].tokens_used) == ("succeeded", 220)
        assert steps["c2"].status == "failed"

        money = lifecycle.submit(
            runtime,
            TaskContract(
                goal="spend the money budget",
                plan=_two_chatters(calls_first=1),
                budget=Budget(max_tokens=10_000, max_cost_usd=1.0, max_retries=0),
            ),
        )
        row = wait_for_task(runtime, money.id)
        assert row.status == "failed"
        assert "max_cost_usd" in row.error["message"]
        assert float(row.cost_usd) == 1.0
        assert len(llm.chat_requests) == 3


@pytest.mark.exclusive  # a time bound: the machine must be quiet
def test_the_task_deadline_is_enforced_for_running_and_for_stuck_steps(
    stack: LiveStack, runtime: Any
) -> None:
    stack.start_fleet(["orchestrator", "sleep"])  # nothing serves the "flaky" arm
    budget = Budget(max_time_seconds=2)
    running = lifecycle.submit(
        runtime,
        TaskContract(
            goal="outlive my deadline",
            budget=budget,
            plan={
                "steps": [
                    {"step_id": "s", "arm": "sleep", "action": "long", "input": {"seconds": 30}}
                ]
            },
        ),
    )
    stuck = lifecycle.submit(
        runtime,
        TaskContract(
            goal="wait for a worker that never comes",
            budget=budget,
            plan={"steps": [{"step_id": "q", "arm": "flaky", "action": "never picked up"}]},
        ),
    )
    began = time.monotonic()
    with reconciling(runtime):
        first = wait_for_task(runtime, running.id, timeout=15)
        second = wait_for_task(runtime, stuck.id, timeout=15)
    assert time.monotonic() - began < 6
    assert first.status == "failed"
    assert first.error["code"] in ("BUDGET_EXCEEDED", "DEADLINE_EXCEEDED")
    assert "deadline" in first.error["message"]
    assert steps_of(runtime, running.id)["s"].status in ("failed", "cancelled")
    # only the reconciler can end a task whose step no worker takes
    assert second.status == "failed"
    assert second.error["code"] == "DEADLINE_EXCEEDED"
    assert steps_of(runtime, stuck.id)["q"].status == "skipped"
