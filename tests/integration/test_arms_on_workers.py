"""The six built-in arms on real ``celery worker`` processes, one pool each.

* planner -> coder (-> judge, called directly) -> executor -> judge: a goal without a plan,
  against the scripted model; the coder's episodic memory (all-MiniLM-L6-v2, Qdrant local
  mode in the coder pool's own directory) stores the accepted solution.
* retriever: ingest, then search, in the retriever pool (Qdrant local mode in
  ``<data_dir>/qdrant``, the only process that opens it).
* guardian: redacts PII from a step's text.

Once against the real local model (slow): llama.cpp's server with SmolLM2, as the embedded
default runs it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from octollm.contracts import TaskContract
from octollm.contracts.arm_io import (
    CoderOutput,
    ExecutorOutput,
    GuardianOutput,
    JudgeOutput,
    PlannerOutput,
    RetrieverIngestOutput,
    RetrieverSearchOutput,
)
from octollm.orchestrator.engine import lifecycle
from octollm.store import steps as step_repo
from tests.integration.test_llm_arms import real_model_url as real_model_url  # the fixture
from tests.support.fake_llm import FakeLLM
from tests.support.fake_llm import fake_llm as fake_llm  # the shared fixture
from tests.support.stack import (
    LiveStack,
    live_stack,
    make_runtime,
    step_status,
    steps_of,
    wait_for_task,
    wait_until,
)

GOAL = "Write a Python function is_prime(n) and check it on 2, 15 and 17"
CODE = """```python
def is_prime(n):
    return n > 1 and all(n % d for d in range(2, int(n**0.5) + 1))

if __name__ == "__main__":
    for n in (2, 15, 17):
        print(n, is_prime(n))
```
Trial division."""
PLAN = {
    "steps": [
        {"step_id": "write", "arm": "coder", "action": "Write is_prime", "input": {}},
        {"step_id": "run", "arm": "executor", "action": "Run it", "depends_on": ["write"]},
        {
            "step_id": "check",
            "arm": "judge",
            "action": "Check it",
            "input": {"required_names": ["is_prime"]},
            "depends_on": ["write", "run"],
        },
    ],
    "rationale": "write, run, check",
}


def scripted(request: dict[str, Any]) -> Any:
    """The planner gets the plan; everyone else gets the code."""
    system = request["messages"][0]["content"]
    return PLAN if system.startswith("You plan work") else CODE


def run(stack: LiveStack, contract: TaskContract, timeout: float = 120) -> tuple[Any, Any]:
    rt = make_runtime(stack)
    try:
        task = lifecycle.submit(rt, contract)
        return wait_for_task(rt, task.id, timeout=timeout), steps_of(rt, task.id)
    finally:
        rt.db.dispose()


@pytest.fixture
def llm_stack(tmp_path: Path, fake_llm: FakeLLM) -> Iterator[LiveStack]:
    with live_stack(tmp_path, OCTOLLM_LLM__BASE_URL=fake_llm.base_url) as stack:
        yield stack


def test_planner_coder_executor_and_judge_run_a_goal_in_their_own_pools(
    llm_stack: LiveStack, fake_llm: FakeLLM
) -> None:
    fake_llm.script(scripted)
    llm_stack.start_fleet(["orchestrator", "planner", "coder", "judge"])
    llm_stack.start_worker(["executor"], pool="prefork", concurrency=1)
    row, steps = run(llm_stack, TaskContract(goal=GOAL))
    assert row.status == "completed", row.error
    out = row.result["steps"]
    assert set(steps) == {"plan", "write", "run", "check"}
    assert all(s.status == "succeeded" for s in steps.values())
    coder = CoderOutput.model_validate(out["write"])
    assert coder.review is not None
    assert coder.review.by == "judge"
    assert coder.memory is not None
    assert coder.memory.stored, coder.warnings
    executor = ExecutorOutput.model_validate(out["run"])
    assert executor.stdout.splitlines() == ["2 True", "15 False", "17 True"]
    assert JudgeOutput.model_validate(out["check"]).valid
    planner_pid = _worker_pid(llm_stack, "planner")
    assert planner_pid != _worker_pid(llm_stack, "coder")
    assert (llm_stack.tmp / "data" / "qdrant-coder").is_dir()


def _worker_pid(stack: LiveStack, arm: str) -> int:
    worker = next(w for w in stack.workers if w.name.startswith(arm))
    return worker.proc.pid


def test_the_planner_step_output_is_its_contract(llm_stack: LiveStack, fake_llm: FakeLLM) -> None:
    fake_llm.script(scripted)
    llm_stack.start_fleet(["orchestrator", "planner"])  # no other pool: the plan is all we get
    rt = make_runtime(llm_stack)
    try:
        task = lifecycle.submit(rt, TaskContract(goal=GOAL))
        wait_until(lambda: step_status(rt, task.id, "plan") == "succeeded", 30, "the plan step")
        with rt.db.session() as session:
            output, provenance = step_repo.results(session, task.id, ["plan"])["plan"]
        lifecycle.cancel(rt, task.id)
    finally:
        rt.db.dispose()
    planned = PlannerOutput.model_validate(output)
    assert planned.source == "llm"
    assert [s.arm for s in planned.plan.steps] == ["coder", "executor", "judge"]
    assert provenance["arm"] == "planner"
    assert provenance["tokens"]["completion_tokens"] > 0


def test_the_retriever_ingests_and_searches_in_its_own_pool(tmp_path: Path) -> None:
    docs = [
        {"source": "celery.md", "text": "Celery workers consume tasks from a Redis broker."},
        {"source": "cats.md", "text": "Cats sleep most of the day and hunt at dusk."},
    ]
    plan = {
        "steps": [
            {
                "step_id": "ingest",
                "arm": "retriever",
                "action": "store the documents",
                "input": {"op": "ingest", "documents": docs},
            },
            {
                "step_id": "search",
                "arm": "retriever",
                "action": "find the answer",
                "input": {"query": "which animal hunts in the evening?", "limit": 1},
                "depends_on": ["ingest"],
            },
        ]
    }
    with live_stack(tmp_path) as stack:
        stack.start_fleet(["orchestrator", "retriever"])
        row, _ = run(stack, TaskContract(goal="answer from the documents", plan=plan))
        assert (stack.tmp / "data" / "qdrant").is_dir()
    assert row.status == "completed", row.error
    ingest = RetrieverIngestOutput.model_validate(row.result["steps"]["ingest"])
    search = RetrieverSearchOutput.model_validate(row.result["steps"]["search"])
    assert ingest.chunks == 2
    assert search.results[0].source == "cats.md"
    assert search.citations == ["cats.md"]


def test_the_guardian_redacts_pii_in_its_own_pool(tmp_path: Path) -> None:
    text = "Mail bob@example.com or call 415-555-0133; card 4111 1111 1111 1111."
    plan = {
        "steps": [
            {"step_id": "screen", "arm": "guardian", "action": "screen", "input": {"text": text}}
        ]
    }
    with live_stack(tmp_path) as stack:
        stack.start_fleet(["orchestrator", "guardian"])
        row, _ = run(stack, TaskContract(goal="screen a message for PII", plan=plan))
    assert row.status == "completed", row.error
    out = GuardianOutput.model_validate(row.result["steps"]["screen"])
    assert out.sanitized_text is not None
    assert "bob@example.com" not in out.sanitized_text
    assert "[EMAIL-REDACTED]" in out.sanitized_text
    assert {i.subtype for i in out.issues} >= {"email", "credit_card"}


@pytest.mark.exclusive  # the real local model: CPU-bound, its time limits assume a quiet machine
@pytest.mark.slow
def test_the_llm_arms_run_on_workers_against_the_real_local_model(
    real_model_url: str, tmp_path: Path
) -> None:
    env = {
        "OCTOLLM_LLM__BASE_URL": real_model_url,
        "OCTOLLM_LLM__MODEL": os.environ.get("OCTOLLM_TEST_LLM_MODEL", "smollm2-135m-instruct"),
        "OCTOLLM_MEMORY__CODER_MEMORY": "false",
    }
    with live_stack(tmp_path, **env) as stack:
        stack.start_fleet(["orchestrator", "planner", "coder", "judge"])
        stack.start_worker(["executor"], pool="prefork", concurrency=1)
        row, steps = run(stack, TaskContract(goal=GOAL), timeout=170)
    assert row.status in {"completed", "failed"}
    plan = steps["plan"]
    assert plan.status == "succeeded"
    assert plan.tokens_used > 0, "the planner asked the real model"
    coder = next(s for s in steps.values() if s.arm == "coder")
    assert coder.tokens_used > 0, "the coder asked the real model"
    if coder.status == "failed":  # a 135M model may not manage; the reason must say why
        assert coder.error["code"] in {"ARM_FAILED", "BUDGET_EXCEEDED"}, coder.error
    else:
        assert coder.status == "succeeded"
