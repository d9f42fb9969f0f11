"""Honest verdicts: one test per rule. A criterion passes only on evidence; what the Judge
cannot decide is undecided (never passed); a failed step fails the criteria that needed it; a
question whose search found nothing fails "no sources found"; string-built SQL is flagged."""

from __future__ import annotations

from typing import Any

import pytest

from octollm.arms.base import ArmContext
from octollm.arms.boundary import call
from octollm.arms.judge import NO_SOURCES, JudgeArm

FACTORIAL = "def factorial(n):\n    return 1 if n <= 1 else n * factorial(n - 2)\n"


def judge(
    input: dict[str, Any],
    dependencies: dict[str, dict[str, Any]] | None = None,
    criteria: list[str] | None = None,
) -> dict[str, Any]:
    ctx = ArmContext(
        task_id="t",
        step_id="verify",
        attempt=1,
        goal="g",
        dependencies=dependencies or {},
        acceptance_criteria=criteria or [],
    )
    return call(JudgeArm(), {"validation_types": ["syntax", "security", "execution",
                                                "criteria"], **input}, ctx).output  # fmt: skip


def statuses(out: dict[str, Any]) -> dict[str, str]:
    return {c["criterion"]: c["status"] for c in out["criteria"]}


def test_a_criterion_without_evidence_is_undecided_not_passed() -> None:
    out = judge({"code": FACTORIAL}, criteria=["returns the factorial of n"])
    assert statuses(out) == {"returns the factorial of n": "undecided"}
    assert out["passed_criteria"] == []
    assert out["undecided_criteria"] == ["returns the factorial of n"]


def test_a_task_whose_criteria_are_all_undecided_is_not_valid() -> None:
    out = judge(
        {"code": FACTORIAL},
        criteria=["returns the factorial of n", "handles the base case", "runs without errors"],
    )
    assert set(statuses(out).values()) == {"undecided"}
    assert out["valid"] is False
    assert out["verdict"] == "unverified"


def test_a_criterion_decided_on_a_runs_checks_passes_and_the_verdict_is_valid() -> None:
    run = {"exit_code": 0, "stdout": "", "stderr": "", "checks": [{"call": "f(3)", "result": "6"}]}
    out = judge({}, {"code": {"code": FACTORIAL}, "run": run}, ["runs without errors"])
    assert statuses(out) == {"runs without errors": "passed"}
    assert out["verdict"] == "valid"
    assert out["valid"] is True


def test_a_failed_run_step_fails_the_criterion_that_needed_it_not_a_warning() -> None:
    gap = {"_gap": {"status": "failed", "error": {"code": "SANDBOX_ERROR", "message": "boom"}}}
    out = judge({}, {"code": {"code": FACTORIAL}, "run": gap}, ["runs without errors"])
    assert statuses(out) == {"runs without errors": "failed"}
    assert "run failed (SANDBOX_ERROR)" in out["criteria"][0]["why"]
    failed_dependency = [i for i in out["issues"] if i["type"] == "dependency_failed"]
    assert failed_dependency
    assert failed_dependency[0]["severity"] == "error"
    assert out["verdict"] == "invalid"


def test_a_check_that_raised_fails_runs_without_errors() -> None:
    run = {
        "exit_code": 0,
        "stdout": "",
        "stderr": "",
        "checks": [{"call": "is_prime(2)", "error": "EOFError: EOF when reading a line"}],
    }
    out = judge({}, {"code": {"code": "def is_prime(n):\n    return input()\n"}, "run": run},
                ["runs without errors"])  # fmt: skip
    assert statuses(out) == {"runs without errors": "failed"}
    assert "is_prime(2)" in out["criteria"][0]["why"]
    assert out["valid"] is False


def test_a_check_that_returned_none_is_no_evidence_and_fails() -> None:
    code = "def fibonacci(n):\n    print(n)\n"
    run = {"exit_code": 0, "stdout": "10\n", "stderr": "", "checks": [
        {"call": "fibonacci(10)", "result": "None"}]}  # fmt: skip
    out = judge({}, {"code": {"code": code}, "run": run}, ["runs without errors"])
    assert statuses(out) == {"runs without errors": "failed"}
    assert "fibonacci(10)" in out["criteria"][0]["why"]
    returned = [i for i in out["issues"] if "returned None" in i["message"]]
    assert returned
    assert returned[0]["severity"] == "error"
    assert out["valid"] is False


def test_an_empty_retrieval_for_a_question_fails_no_sources_found() -> None:
    search = {"results": [], "query": "vacation days", "total_results": 0}
    out = judge({}, {"search": search, "integrate": {"answer": "I do not know."}})
    assert statuses(out)[NO_SOURCES] == "failed"
    assert NO_SOURCES in out["failed_criteria"]
    assert any(i["type"] == "no_sources" and i["severity"] == "error" for i in out["issues"])
    assert out["verdict"] == "invalid"


def test_an_output_with_no_criteria_and_nothing_checked_is_unverified() -> None:
    out = judge({}, {"integrate": {"answer": "- one\n- two\n- three"}})
    assert out["verdict"] == "unverified"
    assert out["valid"] is False


SELECT = "SELECT * FROM users WHERE name = "
SQL_BUILT = {
    "f-string": 'cur.execute(f"' + SELECT + "'{name}'\")",
    "percent": 'cur.execute("' + SELECT + "'%s'\" % name)",
    "plus": 'cur.execute("' + SELECT + '\'" + name + "\'")',
    "format": 'cur.execute("' + SELECT + "'{}'\".format(name))",
    "via-variable": 'sql = f"' + SELECT + "'{name}'\"\n    cur.execute(sql)",
    "augmented": 'sql = "SELECT * FROM users"\n    sql += " WHERE name = " + name\n'
    "    cur.executemany(sql, [])",
}


@pytest.mark.parametrize("body", SQL_BUILT.values(), ids=SQL_BUILT.keys())
def test_sql_built_from_strings_and_passed_to_execute_is_a_security_error(body: str) -> None:
    code = f"def find(cur, name):\n    {body}\n"
    out = judge({"code": code}, criteria=["has no security issues"])
    sql = [i for i in out["issues"] if "sql-string-built" in i["message"]]
    assert sql
    assert sql[0]["severity"] == "error"
    assert statuses(out) == {"has no security issues": "failed"}


def test_a_parameterised_query_is_not_flagged() -> None:
    code = (
        "def find(cur, name):\n"
        '    sql = "SELECT * FROM users WHERE name = %s"\n'
        "    cur.execute(sql, (name,))\n"
    )
    out = judge({"code": code}, criteria=["has no security issues"])
    assert not [i for i in out["issues"] if "sql-string-built" in i["message"]]
    assert statuses(out) == {"has no security issues": "passed"}
