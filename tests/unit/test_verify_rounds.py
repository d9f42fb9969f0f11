"""The orchestrator's reading of finished steps: the verdict, the answer, a repair round."""

from __future__ import annotations

from typing import Any

from octollm.orchestrator.answering import integration, repair, verification
from octollm.store.models import StepRow

WRONG = "def is_prime(n):\n    return int(input()) > 1\n"


def step(step_id: str, arm: str, level: int, deps: list[str] | None = None, **kw: Any) -> StepRow:
    return StepRow(
        task_id="t",
        step_id=step_id,
        arm=arm,
        action=step_id,
        input=kw.pop("input", {}),
        depends_on=deps or [],
        critical=True,
        position=level,
        level=level,
        status=kw.pop("status", "succeeded"),
        max_attempts=4,
        error=kw.pop("error", None),
    )


ROWS = [
    step("code", "coder", 0),
    step("run", "executor", 1, ["code"]),
    step("verify", "judge", 2, ["code", "run"]),
]
CHECK = {"call": "is_prime(2)", "error": "EOFError: EOF when reading a line"}
RUN = {"exit_code": 0, "stdout": "", "stderr": "", "checks": [CHECK]}
INVALID = {
    "valid": False,
    "verdict": "invalid",
    "criteria": [{"criterion": "runs without errors", "status": "failed", "why": "raised"}],
    "issues": [{"severity": "error", "type": "execution_failed", "message": "check raised"}],
    "metadata": {"code_source": "code"},
}
OUTPUTS = {"code": {"code": WRONG, "language": "python"}, "run": RUN, "verify": INVALID}


def test_the_final_judge_steps_verdict_is_the_tasks_with_its_failed_criteria() -> None:
    verdict = verification.verdict_of(ROWS, OUTPUTS)
    assert verdict.status == "invalid"
    assert verdict.failed_criteria == ["runs without errors"]
    assert verdict.code_source == "code"
    assert "criterion failed: runs without errors (raised)" in verdict.reasons


def test_a_plan_without_a_judge_is_unverified() -> None:
    assert verification.verdict_of(ROWS[:2], OUTPUTS).status == "unverified"


def test_a_judge_step_that_failed_makes_the_verdict_invalid() -> None:
    rows = [*ROWS[:2], step("verify", "judge", 2, status="failed", error={"message": "boom"})]
    assert verification.verdict_of(rows, OUTPUTS).status == "invalid"


def test_a_single_piece_of_code_is_the_answer_with_what_its_checks_showed() -> None:
    out = integration.integrate(ROWS, OUTPUTS)
    assert out["answer"].startswith("```python\ndef is_prime(n):")
    assert "is_prime(2) -> raised EOFError" in out["answer"]
    assert out["artefacts"]["code.py"]["content"] == WRONG


def test_an_integrate_steps_answer_wins_and_retrieved_sources_are_cited_once() -> None:
    rows = [
        step("search", "retriever", 0),
        step("integrate", "planner", 1, ["search"], input={"op": "integrate"}),
    ]
    hit = {"content": "x", "source": "handbook.md", "metadata": {"doc_id": "doc-1"}}
    outputs = {
        "search": {"results": [hit, dict(hit)], "query": "q"},
        "integrate": {"answer": "Twenty days [1]."},
    }
    out = integration.integrate(rows, outputs)
    assert out["answer"] == "Twenty days [1]."
    assert out["citations"] == [{"source": "handbook.md", "doc_id": "doc-1", "step_id": "search"}]


def test_a_repair_round_copies_the_coder_and_its_dependants_with_the_findings() -> None:
    verdict = verification.verdict_of(ROWS, OUTPUTS)
    planned = repair.plan_round(2, 5, ROWS, OUTPUTS, verdict)
    assert planned is not None
    assert planned.target == "code"
    assert planned.replaced == ["code", "run", "verify"]
    by_id = {r["step_id"]: r for r in planned.rows}
    assert set(by_id) == {"code.r2", "run.r2", "verify.r2"}
    assert by_id["run.r2"]["depends_on"] == ["code.r2"]
    assert by_id["verify.r2"]["depends_on"] == ["code.r2", "run.r2"]
    assert all(r["generation"] == 5 and r["status"] == "queued" for r in planned.rows)
    findings = by_id["code.r2"]["input"]["repair"]
    assert findings["failed_criteria"] == ["runs without errors"]
    assert findings["executions"][0]["checks"][0]["error"].startswith("EOFError")
    assert findings["previous"] == {"code": WRONG}
    assert repair.round_id("code.r2", 3) == "code.r3"


def test_missing_sources_are_not_repaired() -> None:
    rows = [step("search", "retriever", 0), step("verify", "judge", 1, ["search"])]
    no_sources = {
        "verdict": "invalid",
        "criteria": [{"criterion": "no sources found", "status": "failed", "why": "nothing"}],
        "issues": [{"severity": "error", "type": "no_sources", "message": "no sources found"}],
    }
    verdict = verification.verdict_of(rows, {"search": {}, "verify": no_sources})
    assert repair.plan_round(2, 2, rows, {}, verdict) is None


def test_the_api_view_and_the_python_client_carry_the_answer_first_class() -> None:
    from datetime import UTC, datetime

    from octollm.api.views import task_view
    from octollm.client.models import Task
    from octollm.store.models import TaskRow

    now = datetime.now(UTC)
    row = TaskRow(
        id="task-1",
        status="completed",
        priority="medium",
        goal="g",
        result={"answer": "42", "verdict": {"status": "valid"}, "rounds": [{}, {}]},
        tokens_used=0,
        cost_usd=0,
        created_at=now,
        updated_at=now,
    )
    view = task_view(row, [], {})
    assert (view.answer, view.verdict, view.rounds) == ("42", "valid", 2)
    task = Task.model_validate_json(view.model_dump_json())
    assert (task.answer, task.verdict, task.rounds) == ("42", "valid", 2)


def test_no_repair_round_starts_once_the_token_time_or_cost_budget_is_spent() -> None:
    from datetime import UTC, datetime, timedelta

    from octollm.orchestrator.answering.conclusion import budget_spent, max_repair_rounds
    from octollm.store.models import TaskRow

    def task(**kw: Any) -> TaskRow:
        fields: dict[str, Any] = {
            "tokens_used": 10,
            "max_tokens": 100,
            "cost_usd": 0.0,
            "max_cost_usd": 1.0,
            "deadline": datetime.now(UTC) + timedelta(minutes=5),
            "contract": {"budget": {"max_repair_rounds": 1}},
        }
        return TaskRow(**{**fields, **kw})

    assert budget_spent(task()) is None
    assert max_repair_rounds(task()) == 1
    assert budget_spent(task(tokens_used=100)) == "the token budget is spent"
    assert budget_spent(task(cost_usd=1.0)) == "the cost budget is spent"
    assert budget_spent(task(deadline=datetime.now(UTC))) == "the time budget is spent"
