"""The coder -> judge validate-and-fix loop on real workers: the coder calls the judge arm
through the judge's queue (``octollm.arm.call``), hands the code over through Redis, and fixes
what the judge reports, within its iteration bound."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from octollm.contracts import TaskContract
from octollm.memory.cache import Cache
from octollm.orchestrator.engine import lifecycle
from octollm.store import security_events
from tests.support.fake_llm import FakeLLM
from tests.support.fake_llm import fake_llm as fake_llm  # the shared fixture
from tests.support.stack import LiveStack, live_stack, make_runtime, steps_of, wait_for_task

GOAL = "Write a Python function is_prime(n)"
BAD_CODE = "```python\ndef is_prime(n)\n    return n > 1\n```"
GOOD_CODE = (
    "```python\ndef is_prime(n):\n    return n > 1 and all(n % d for d in range(2, n))\n```\n"
    "Trial division."
)
EVAL_CODE = "```python\ndef is_prime(n):\n    return eval('n > 1')\n```"


def coder_plan() -> dict[str, Any]:
    step = {"instruction": GOAL, "language": "python", "request_type": "generate"}
    return {"steps": [{"step_id": "code", "arm": "coder", "action": "write it", "input": step}]}


@pytest.fixture
def loop_stack(tmp_path: Path, fake_llm: FakeLLM) -> Iterator[LiveStack]:
    env = {"OCTOLLM_LLM__BASE_URL": fake_llm.base_url, "OCTOLLM_MEMORY__CODER_MEMORY": "false"}
    with live_stack(tmp_path, **env) as stack:
        yield stack


def run_coder(stack: LiveStack) -> tuple[Any, dict[str, Any], Any]:
    rt = make_runtime(stack)
    try:
        task = lifecycle.submit(rt, TaskContract(goal=GOAL, plan=coder_plan()))
        row = wait_for_task(rt, task.id, timeout=60)
        step = steps_of(rt, task.id)["code"]
        with rt.db.session() as session:
            refusals = security_events.for_task(session, task.id)
        assert refusals == []
        return row, (row.result or {}).get("steps", {}).get("code", {}), step
    finally:
        rt.db.dispose()


def test_the_judge_finds_the_injected_syntax_error_and_the_coder_fixes_it_in_bounds(
    loop_stack: LiveStack, fake_llm: FakeLLM
) -> None:
    fake_llm.script([BAD_CODE, GOOD_CODE])
    loop_stack.start_fleet(["orchestrator", "coder", "judge"])
    row, out, step = run_coder(loop_stack)
    assert row.status == "completed", row.error
    assert out["fix_attempts"] == 1
    assert out["review"]["by"] == "judge"
    assert out["review"]["valid"] is True
    assert out["review"]["iterations"] == 2
    assert out["code"].startswith("def is_prime(n):")
    fix_request = fake_llm.chat_requests[1]["messages"][-1]["content"]
    assert "line 1: syntax error" in fix_request, "the judge's finding reached the model"
    judge_log = next(w for w in loop_stack.workers if w.name.startswith("judge")).log()
    assert judge_log.count('"arm_call_served"') == 2
    assert step.attempts == 1
    # The hand-off the coder left for the judge: sha256-named, under the task's tenant and the
    # coder's namespace.
    pattern = "octollm:tenant:default:handoff:coder:call:*"
    keys = [k.decode() for k in loop_stack.redis().scan_iter(match=pattern)]
    assert keys
    assert all(len(k.rsplit(":", 1)[1]) == 64 for k in keys)
    assert Cache(loop_stack.redis()).ttl(keys[0])


def test_a_judge_error_left_after_the_fix_attempts_is_returned_as_a_warning(
    loop_stack: LiveStack, fake_llm: FakeLLM
) -> None:
    fake_llm.script([EVAL_CODE, EVAL_CODE, EVAL_CODE])
    loop_stack.start_fleet(["orchestrator", "coder", "judge"])
    row, out, _ = run_coder(loop_stack)
    assert row.status == "completed", row.error
    assert out["fix_attempts"] == 2
    assert out["review"]["valid"] is False
    assert any("eval" in w for w in out["warnings"])
    assert out["confidence"] <= 0.5
    assert len(fake_llm.chat_requests) == 3


def test_without_a_judge_pool_the_coder_falls_back_to_its_local_check(
    tmp_path: Path, fake_llm: FakeLLM
) -> None:
    env = {
        "OCTOLLM_LLM__BASE_URL": fake_llm.base_url,
        "OCTOLLM_MEMORY__CODER_MEMORY": "false",
        "OCTOLLM_RESILIENCE__ARM_CALL_TIMEOUT_SECONDS": "1",
        "OCTOLLM_RESILIENCE__ARM_CALL_ATTEMPTS": "1",
    }
    fake_llm.script([BAD_CODE, GOOD_CODE])
    with live_stack(tmp_path, **env) as stack:
        stack.start_fleet(["orchestrator", "coder"])
        row, out, _ = run_coder(stack)
    assert row.status == "completed", row.error
    assert out["review"]["by"] == "local"
    assert out["fix_attempts"] == 1
    assert any("judge could not be asked" in w for w in out["warnings"])
