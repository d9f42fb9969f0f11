"""The agent-quality benchmark's harness on real workers with the scripted LLM: two goals (one
code, one question over the ingested documents) under 0 and 1 repair rounds, graded by the
benchmark's private checks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks import agent_quality as bench
from tests.support.fake_llm import FakeLLM
from tests.support.fake_llm import fake_llm as fake_llm  # the shared fixture
from tests.support.stack import LiveStack, live_stack, make_runtime

#: Right for the goal's visible check factorial(4) == 24, wrong for the hidden factorial(0).
WRONG = "```python\ndef factorial(n):\n    return n * factorial(n - 1) if n > 1 else n\n```"
RIGHT = "```python\ndef factorial(n):\n    return 1 if n < 2 else n * factorial(n - 1)\n```"
WRONG_CRASH = "```python\ndef factorial(n):\n    return int(input('n? '))\n```"

pytestmark = pytest.mark.timeout(480)  # ingest, then four tasks on a shared 2-core machine


def scripted(request: dict[str, Any]) -> Any:
    messages = request.get("messages") or []
    prompt = "\n".join(str(m.get("content", "")) for m in messages)
    if "response_format" in request:
        return "no plan today"  # the planner (and the judge's LLM criteria) fall back
    if "programmer" in str(messages[0].get("content", "")):
        return RIGHT if "Repair round" in prompt else WRONG_CRASH
    if "Orbital Cafe" in prompt:
        return "The Orbital Cafe opens at 7:30 on weekdays [1]."
    return "I do not know."


@pytest.fixture
def bench_stack(tmp_path: Path, fake_llm: FakeLLM) -> Iterator[LiveStack]:
    env = {"OCTOLLM_LLM__BASE_URL": fake_llm.base_url, "OCTOLLM_MEMORY__CODER_MEMORY": "false"}
    with live_stack(tmp_path, **env) as stack:
        yield stack


def test_the_harness_grades_goals_with_its_hidden_checks_under_each_round_setting(
    bench_stack: LiveStack, fake_llm: FakeLLM
) -> None:
    fake_llm.script(scripted)
    bench_stack.start_fleet(["orchestrator", "planner", "coder", "executor", "judge", "retriever"])
    goals = bench.select(bench.GOALS, None, "code-factorial,q-cafe-open")
    rt = make_runtime(bench_stack)
    try:
        docs = bench.ingest(rt, "bench-test", timeout=180)
        assert set(docs.values()) == {"ready"}, docs
        outcomes = bench.run_suite(
            rt, goals, [0, 1], tenant="bench-test", timeout=180, plan_mode="rules", derive=True
        )
    finally:
        rt.db.dispose()
    by = {(o.goal, o.max_repair_rounds): o for o in outcomes}
    no_repair = by[("code-factorial", 0)]
    assert (no_repair.status, no_repair.passed, no_repair.rounds) == ("failed", False, 1)
    assert no_repair.error_code == "VERDICT_INVALID"
    assert "EOFError" in no_repair.why
    repaired = by[("code-factorial", 1)]
    assert (repaired.status, repaired.passed, repaired.rounds) == ("completed", True, 2)
    assert repaired.detail["cases"] == "4/4"
    assert no_repair.task_id == repaired.task_id, "r=0 is read off the r=1 run"
    assert no_repair.detail["derived"] == "cut after verdict round 1 of 2"
    for setting in (0, 1):
        question = by[("q-cafe-open", setting)]
        assert question.passed, question.why
        assert question.detail["cited"] is True
    table = bench.markdown(
        {"label": "fake", "llm": "scripted", "command": "test", "machine": bench.machine(),
         "summary": bench.summary(outcomes), "outcomes": [vars(o) for o in outcomes]}
    )  # fmt: skip
    assert "| 0 | 1/2 (50%)" in table
    assert "| 1 | 2/2 (100%)" in table


def test_hidden_checks_catch_code_that_passes_only_the_visible_check() -> None:
    goal = next(g for g in bench.GOALS if g.id == "code-factorial")
    assert "factorial(0)" not in goal.goal
    wrong = bench.grade(goal, {"artefacts": {"code.py": {"content": WRONG[10:-4]}}})
    assert not wrong["passed"]
    assert "factorial(0,) -> 0" in wrong["why"]
    right = bench.grade(goal, {"answer": RIGHT})
    assert right == {"passed": True, "cases": "4/4", "why": ""}
    looping = bench.hidden_code_checks("def factorial(n):\n    while True: pass\n", goal, 2)
    assert not looping["passed"]
