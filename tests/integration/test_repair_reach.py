"""Repair reaches past the coder: a search too narrow to find anything is re-run broadened by
the repair round, on real workers with the scripted LLM, and the task completes with the
documents it now finds cited."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from octollm.contracts import TaskContract
from octollm.memory.readers import read_document
from octollm.orchestrator.engine import documents as intake
from octollm.orchestrator.engine import lifecycle
from octollm.store import documents as document_repo
from octollm.store import rounds as round_repo
from tests.support.fake_llm import FakeLLM
from tests.support.fake_llm import fake_llm as fake_llm  # the shared fixture
from tests.support.stack import LiveStack, live_stack, make_runtime, steps_of, wait_for_task

pytestmark = pytest.mark.timeout(420)

GOAL = "According to the documents, at what time does the Orbital Cafe open on weekdays?"
CAFE = "# Orbital Cafe\n\nThe Orbital Cafe opens at 7:30 on weekdays and closes at 18:00.\n"
BIKES = "# Zephyr bikes\n\nA Zephyr city bike costs 15 euros per day.\n"


@pytest.fixture
def reach_stack(tmp_path: Path, fake_llm: FakeLLM) -> Iterator[LiveStack]:
    with live_stack(tmp_path, OCTOLLM_LLM__BASE_URL=fake_llm.base_url) as stack:
        yield stack


def _answer(request: dict[str, Any]) -> Any:
    if "response_format" in request:
        return "no structured answer"  # the judge's LLM criteria stay undecided
    return "The Orbital Cafe opens at 7:30 on weekdays [1]."


def test_a_search_too_narrow_to_find_anything_is_repaired_by_a_broadened_search(
    reach_stack: LiveStack, fake_llm: FakeLLM
) -> None:
    fake_llm.script(_answer)
    reach_stack.start_fleet(["orchestrator", "retriever", "planner", "judge"])
    rt = make_runtime(reach_stack)
    try:
        ids = [
            intake.add(rt, "default", read_document(name, text.encode()), filename=name,
                       size_bytes=len(text)).id
            for name, text in (("orbital-cafe.md", CAFE), ("zephyr-bikes.md", BIKES))
        ]  # fmt: skip
        for document_id in ids:
            wait_for_task(rt, _ingest_task(rt, document_id), timeout=240)
        plan = {
            "steps": [
                {"step_id": "search", "arm": "retriever", "action": "look it up",
                 "input": {"query": "zebra xylophone quartz", "method": "keyword"}},
                {"step_id": "integrate", "arm": "planner", "action": "answer",
                 "input": {"op": "integrate"}, "depends_on": ["search"]},
                {"step_id": "verify", "arm": "judge", "action": "check the answer",
                 "input": {}, "depends_on": ["search", "integrate"]},
            ]
        }  # fmt: skip
        contract = TaskContract.model_validate(
            {"goal": GOAL, "plan": plan, "budget": {"max_replans": 0, "max_repair_rounds": 1}}
        )
        task = lifecycle.submit(rt, contract)
        row = wait_for_task(rt, task.id, timeout=240)
        steps = steps_of(rt, task.id)
        with rt.db.session() as session:
            rounds = round_repo.for_task(session, task.id)
    finally:
        rt.db.dispose()
    assert [(r.kind, r.decision) for r in rounds][-2:] == [
        ("verdict", "repair"),
        ("verdict", "completed"),
    ]
    repair = next(r for r in rounds if r.decision == "repair")
    assert repair.target_step == "search"
    assert "no sources found" in (repair.reason or "")
    broad = steps["search.r2"].input
    assert (broad["query"], broad["method"], broad["min_relevance_score"]) == (GOAL, "hybrid", 0.0)
    assert steps["search.r2"].status == "succeeded"
    assert {"integrate.r2", "verify.r2"} <= set(steps)
    assert row.status == "completed", row.error
    assert "7:30" in row.result["answer"]
    cited = {c.get("source") for c in row.result["citations"]}
    assert "orbital-cafe.md" in cited


def _ingest_task(rt: Any, document_id: str) -> str:
    with rt.db.session() as session:
        view = document_repo.get(session, "default", document_id)
    assert view is not None
    return str(view.task_id)
