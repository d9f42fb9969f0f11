"""The orchestrator's integrate -> judge -> repair -> replan loop on real workers, with a
scripted LLM (``FakeLLM``): every round is steps in Postgres, rows and events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from octollm.contracts import TaskContract
from octollm.orchestrator.engine import lifecycle
from octollm.store import rounds as round_repo
from tests.support.apiserver import headers, inproc_client, make_key
from tests.support.fake_llm import FakeLLM
from tests.support.fake_llm import fake_llm as fake_llm  # the shared fixture
from tests.support.stack import LiveStack, live_stack, make_runtime, steps_of, wait_for_task
from tests.support.streams import stream_entries

GOAL = "Write a Python function is_prime(n) and check it on 2, 15 and 17"
#: Reads its answer from stdin: every check raises EOFError in the sandbox.
WRONG = "```python\ndef is_prime(n):\n    return int(input('n? ')) > 1\n```"
RIGHT = (
    "```python\ndef is_prime(n):\n    return n > 1 and all(n % d for d in range(2, n))\n```\n"
    "Trial division."
)


def code_plan() -> dict[str, Any]:
    return {
        "steps": [
            {
                "step_id": "code",
                "arm": "coder",
                "action": "write is_prime",
                "input": {"instruction": GOAL, "language": "python"},
            },
            {
                "step_id": "run",
                "arm": "executor",
                "action": "run the checks",
                "input": {"language": "python", "calls": ["is_prime(2)", "is_prime(15)"]},
                "depends_on": ["code"],
            },
            {
                "step_id": "verify",
                "arm": "judge",
                "action": "verify",
                "input": {"required_names": ["is_prime"]},
                "depends_on": ["code", "run"],
                "acceptance_criteria": ["runs without errors"],
            },
        ]
    }


@pytest.fixture
def loop_stack(tmp_path: Path, fake_llm: FakeLLM) -> Iterator[LiveStack]:
    env = {"OCTOLLM_LLM__BASE_URL": fake_llm.base_url, "OCTOLLM_MEMORY__CODER_MEMORY": "false"}
    with live_stack(tmp_path, **env) as stack:
        yield stack


def _run(stack: LiveStack, contract: TaskContract, timeout: float = 120) -> tuple[Any, Any]:
    rt = make_runtime(stack)
    try:
        task = lifecycle.submit(rt, contract)
        try:
            row = wait_for_task(rt, task.id, timeout=timeout)
        except TimeoutError:
            for s in steps_of(rt, task.id).values():
                print("STEP", s.step_id, s.arm, s.status, s.generation, s.depends_on, s.error)
            raise
        with rt.db.session() as session:
            rounds = round_repo.for_task(session, task.id)
        return row, (steps_of(rt, task.id), rounds)
    finally:
        rt.db.dispose()


def test_a_repair_round_fixes_code_that_failed_its_checks_and_the_task_completes_valid(
    loop_stack: LiveStack, fake_llm: FakeLLM
) -> None:
    fake_llm.script([WRONG, RIGHT])
    loop_stack.start_fleet(["orchestrator", "coder", "executor", "judge"])
    row, (steps, rounds) = _run(loop_stack, TaskContract(goal=GOAL, plan=code_plan()))
    assert row.status == "completed", row.error
    result = row.result
    assert result["verdict"]["status"] == "valid"
    assert len(result["rounds"]) == 2
    assert [r["decision"] for r in result["rounds"]] == ["repair", "completed"]
    assert result["rounds"][0]["target_step"] == "code"
    assert {"code", "run", "verify", "code.r2", "run.r2", "verify.r2"} <= set(steps)
    repair = steps["code.r2"].input["repair"]
    assert "EOFError" in str(repair["executions"]), "the executor's output reached the coder"
    fix_prompt = fake_llm.chat_requests[1]["messages"][-1]["content"]
    assert "Repair round 2" in fix_prompt
    assert "is_prime(2)" in fix_prompt
    assert "all(n % d" in result["answer"]
    assert result["artefacts"]["code.py"]["step_id"] == "code.r2"
    assert [r.decision for r in rounds] == ["repair", "completed"]
    stream = stream_entries(loop_stack.redis(), row.id)
    events = [json.loads(fields[b"event"]) for _, fields in stream]
    (repairing,) = [e for e in events if e["event_type"] == "task.repairing"]
    assert repairing["data"]["target_step"] == "code"
    assert repairing["data"]["failed_criteria"] == ["runs without errors"]
    (done,) = [e for e in events if e["event_type"] == "task.completed"]
    assert done["data"]["answer"] == result["answer"]
    assert (done["data"]["verdict"], done["data"]["rounds"]) == ("valid", 2)


def test_code_that_is_always_wrong_fails_verdict_invalid_after_the_repair_rounds(
    loop_stack: LiveStack, fake_llm: FakeLLM
) -> None:
    fake_llm.script(lambda _request: WRONG)
    loop_stack.start_fleet(["orchestrator", "coder", "executor", "judge"])
    contract = TaskContract(goal=GOAL, plan=code_plan())
    row, (_steps, _) = _run(loop_stack, contract)
    assert row.status == "failed"
    assert row.error["code"] == "VERDICT_INVALID"
    assert "runs without errors" in row.error["message"]
    assert "no repair round left (2 allowed)" in row.error["message"]
    assert [r["decision"] for r in row.result["rounds"]] == ["repair", "repair", "failed"]
    key = make_key(loop_stack, "default")
    with inproc_client(loop_stack) as client:
        listed = client.get(f"/api/v1/tasks/{row.id}/steps", headers=headers(key)).json()
        view = client.get(f"/api/v1/tasks/{row.id}", headers=headers(key)).json()
        result = client.get(f"/api/v1/tasks/{row.id}/result", headers=headers(key)).json()
    ids = [s["step_id"] for s in listed["steps"]]
    for round_ids in (["code", "run", "verify"], ["code.r2", "run.r2", "verify.r2"],
                      ["code.r3", "run.r3", "verify.r3"]):  # fmt: skip
        assert set(round_ids) <= set(ids)
    assert view["verdict"] == "invalid"
    assert view["rounds"] == 3
    assert "def is_prime" in view["answer"]
    assert result["verdict"]["failed_criteria"] == ["runs without errors"]
    assert [r["target_step"] for r in result["rounds"][:2]] == ["code", "code.r2"]
    assert result["artefacts"]["code.py"]["step_id"] == "code.r3"
    assert result["error"]["code"] == "VERDICT_INVALID"


def test_a_summary_goal_returns_its_summary_as_the_answer(
    loop_stack: LiveStack, fake_llm: FakeLLM
) -> None:
    summary = "- Celery spreads work\n- Postgres keeps state\n- Redis brokers messages"
    plan = {
        "steps": [
            {"step_id": "screen", "arm": "guardian", "action": "screen the notes", "input": {},
             "depends_on": [], "critical": True},
            {"step_id": "verify", "arm": "judge", "action": "check the summary", "input": {},
             "depends_on": ["screen"], "critical": True},
        ],
        "rationale": "screen, then write the summary",
    }  # fmt: skip

    def answer(request: dict[str, Any]) -> Any:
        return plan if "response_format" in request else summary

    fake_llm.script(answer)
    loop_stack.start_fleet(["orchestrator", "planner", "guardian", "judge"])
    goal = (
        "Summarise these notes in three bullet points: Celery spreads work over workers; "
        "Postgres keeps every step's state; Redis brokers the messages."
    )
    row, (steps, _) = _run(loop_stack, TaskContract(goal=goal))
    assert row.status == "completed", row.error
    assert row.result["answer"] == summary
    assert steps["integrate"].arm == "planner"
    assert steps["verify"].depends_on == ["screen", "integrate"]
    assert row.result["verdict"]["status"] == "unverified"


def test_a_question_with_nothing_ingested_is_replanned_then_fails_for_want_of_sources(
    loop_stack: LiveStack, fake_llm: FakeLLM
) -> None:
    def answer(request: dict[str, Any]) -> Any:
        if "response_format" in request:
            return "no plan today"  # the planner falls back to its decision tree
        return "The material does not say."

    fake_llm.script(answer)
    loop_stack.start_fleet(["orchestrator", "planner", "retriever", "judge"])
    goal = "What does the staff handbook say about vacation days?"
    row, (steps, rounds) = _run(loop_stack, TaskContract(goal=goal), timeout=180)
    assert steps["search"].status == "succeeded"
    assert steps["replan.1"].arm == "planner"
    assert steps["verify"].status == "skipped"
    assert {"r1.search", "r1.integrate", "r1.verify"} <= set(steps)
    assert [(r.kind, r.decision) for r in rounds] == [
        ("replan", "replan"),
        ("replan", "refused"),
        ("verdict", "failed"),
    ]
    assert row.status == "failed"
    assert row.error["code"] == "VERDICT_INVALID"
    assert "no sources found" in row.error["message"]
    assert row.result["replans"][0]["reason"].startswith("no sources found")
