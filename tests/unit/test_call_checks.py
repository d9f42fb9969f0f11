"""Call checks: derived from goals, validated before the sandbox, evaluated and reported."""

from __future__ import annotations

import pytest

from octollm.arms import checks
from octollm.arms.base import ArmContext
from octollm.arms.boundary import call
from octollm.arms.executor import ExecutorArm
from octollm.arms.judge import JudgeArm
from octollm.arms.plan_rules import fallback_plan
from octollm.contracts.plan import BUILTIN_ARMS
from octollm.errors import InvalidInput

GOAL = "Write a Python function is_prime(n) and check it on 2, 15 and 17"


def test_a_goal_naming_one_function_and_values_gives_one_call_per_value() -> None:
    assert checks.from_goal(GOAL) == ["is_prime(2)", "is_prime(15)", "is_prime(17)"]
    assert checks.from_goal("Write greet(name) and try it with 'Ada' and 'Alan'") == [
        "greet('Ada')",
        "greet('Alan')",
    ]


@pytest.mark.parametrize(
    "goal",
    [
        "Write a function add(a, b)",  # two parameters: no single-argument calls to derive
        "Write f(x) and g(y) and check them on 1 and 2",  # ambiguous function
        "Write is_prime(n)",  # no values
    ],
)
def test_an_ambiguous_goal_gives_no_calls(goal: str) -> None:
    assert checks.from_goal(goal) == []


@pytest.mark.parametrize(
    "bad",
    [["os.system('ls')"], ["f(x)"], ["f(1); g()"], ["__import__('os')('x')"], "f(1)", ["f(a=1)"]],
)
def test_only_plain_calls_with_literal_arguments_are_accepted(bad: object) -> None:
    with pytest.raises(InvalidInput):
        checks.validate(bad)


def test_the_fallback_plan_asks_the_executor_to_run_the_checks() -> None:
    plan = fallback_plan(GOAL, BUILTIN_ARMS)
    run = plan.step("run")
    assert run.input["calls"] == ["is_prime(2)", "is_prime(15)", "is_prime(17)"]


def _ctx(deps: dict[str, dict[str, object]] | None = None) -> ArmContext:
    return ArmContext(task_id="t", step_id="run", attempt=1, goal=GOAL, dependencies=deps or {})


def test_the_executor_reports_each_check_and_the_judge_flags_one_that_raised() -> None:
    code = (
        "def is_prime(n):\n"
        "    if n == 15:\n"
        "        raise ValueError('no')\n"
        "    return n in (2, 17)\n"
    )
    out = call(
        ExecutorArm(), {"language": "python", "code": code, "calls": checks.from_goal(GOAL)}, _ctx()
    ).output
    assert out["exit_code"] == 0
    assert out["stdout"] == ""
    assert out["checks"] == [
        {"call": "is_prime(2)", "result": "True"},
        {"call": "is_prime(15)", "error": "ValueError: no"},
        {"call": "is_prime(17)", "result": "True"},
    ]
    verdict = call(
        JudgeArm(),
        {"required_names": ["is_prime"]},
        _ctx({"code": {"code": code, "language": "python"}, "run": out}),
    ).output
    assert verdict["valid"] is False
    assert any("is_prime(15)" in i["message"] for i in verdict["issues"])


def test_a_check_whose_call_prompts_for_input_is_still_reported() -> None:
    code = "def is_prime(n):\n    input('number? ')\n    return True\n"
    out = call(
        ExecutorArm(), {"language": "python", "code": code, "calls": ["is_prime(2)"]}, _ctx()
    ).output
    assert out["checks"] == [{"call": "is_prime(2)", "error": "EOFError: EOF when reading a line"}]
    assert out["stdout"] == "number? \n", "the prompt stays program output"
