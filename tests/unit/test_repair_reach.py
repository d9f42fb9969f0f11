"""Where a repair round goes: the step that produced what the judge found wrong."""

from __future__ import annotations

from typing import Any

from octollm.orchestrator.answering import repair, verification
from tests.unit.test_verify_rounds import step

GOAL = "According to the documents, when does the Orbital Cafe open?"
NO_SOURCES = {
    "verdict": "invalid",
    "criteria": [{"criterion": "cites its sources", "status": "failed", "why": "none"}],
    "issues": [{"severity": "error", "type": "no_sources", "message": "no sources found"}],
}


def _search_plan(search_input: dict[str, Any]) -> list[Any]:
    return [
        step("search", "retriever", 0, input=search_input),
        step("integrate", "planner", 1, ["search"], input={"op": "integrate"}),
        step("verify", "judge", 2, ["search", "integrate"]),
    ]


def test_a_narrow_search_that_found_nothing_is_repaired_by_a_broadened_search() -> None:
    rows = _search_plan({"query": "cafe hours", "method": "keyword", "min_relevance_score": 0.9})
    outputs = {"search": {"results": []}, "integrate": {"answer": "?"}, "verify": NO_SOURCES}
    verdict = verification.verdict_of(rows, outputs)
    planned = repair.plan_round(2, 3, rows, outputs, verdict, goal=GOAL)
    assert planned is not None
    assert planned.target == "search"
    assert planned.replaced == ["integrate", "search", "verify"]
    search = next(r for r in planned.rows if r["step_id"] == "search.r2")
    assert search["input"]["query"] == GOAL
    assert search["input"]["method"] == "hybrid"
    assert search["input"]["min_relevance_score"] == 0.0
    assert search["input"]["limit"] == repair.BROAD_LIMIT
    assert "repair" not in search["input"], "the retriever validates its input strictly"
    assert search["input"]["_repair"]["failed_criteria"] == ["cites its sources"]


def test_a_search_already_as_broad_as_it_goes_is_not_repaired_again() -> None:
    rows = _search_plan({"query": GOAL, "method": "hybrid", "limit": 10})
    outputs = {"search": {"results": []}, "integrate": {"answer": "?"}, "verify": NO_SOURCES}
    verdict = verification.verdict_of(rows, outputs)
    assert repair.plan_round(2, 3, rows, outputs, verdict, goal=GOAL) is None


def test_a_failed_run_sends_the_repair_to_the_coder_it_ran_not_the_last_coder() -> None:
    rows = [
        step("parse", "coder", 0),
        step("render", "coder", 1),
        step("run_parse", "executor", 2, ["parse"]),
        step("run_render", "executor", 2, ["render"]),
        step("verify", "judge", 3, ["run_parse", "run_render"]),
    ]
    bad = {"exit_code": 1, "stderr": "ValueError", "checks": []}
    invalid = {
        "verdict": "invalid",
        "criteria": [{"criterion": "runs without errors", "status": "failed", "why": "exit 1"}],
        "issues": [{"severity": "error", "type": "execution_failed", "message": "exit 1"}],
    }
    outputs = {
        "parse": {"code": "x"},
        "render": {"code": "y"},
        "run_parse": bad,
        "run_render": {"exit_code": 0, "checks": []},
        "verify": invalid,
    }
    verdict = verification.verdict_of(rows, outputs)
    assert repair.target_of(rows, verdict, outputs) == "parse"


def test_without_an_integrate_step_the_llm_step_that_wrote_the_answer_is_repaired() -> None:
    rows = [
        step("explain", "coder", 0, input={"request_type": "explain"}),
        step("verify", "judge", 1, ["explain"]),
    ]
    invalid = {
        "verdict": "invalid",
        "criteria": [{"criterion": "mentions recursion", "status": "failed", "why": "absent"}],
        "issues": [],
    }
    outputs = {"explain": {"explanation": "It loops."}, "verify": invalid}
    verdict = verification.verdict_of(rows, outputs)
    planned = repair.plan_round(2, 2, rows, outputs, verdict)
    assert planned is not None
    assert planned.target == "explain"
    assert planned.rows[0]["input"]["repair"]["failed_criteria"] == ["mentions recursion"]
