"""The planner's rule-based fallback and its repairs of a model's plan (pure logic, no LLM)."""

from __future__ import annotations

from typing import Any

import pytest

from octollm.arms.base import ArmContext
from octollm.arms.boundary import call
from octollm.arms.plan_rules import decide_arms, fallback_plan, required_names
from octollm.arms.planner import PlannerArm, Unusable, allowed_arms, plan_from_llm, repair_steps
from octollm.contracts.plan import BUILTIN_ARMS, Plan
from octollm.errors import InvalidInput

ARMS = BUILTIN_ARMS - {"planner"}
IS_PRIME = "Write a Python function is_prime(n) and check it on 2, 15 and 17"


def shape(plan: Plan) -> list[tuple[str, str, list[str]]]:
    return [(s.step_id, s.arm, s.depends_on) for s in plan.steps]


def test_the_is_prime_goal_gives_code_then_run_then_verify() -> None:
    plan = fallback_plan(IS_PRIME, ARMS)
    assert shape(plan) == [
        ("code", "coder", []),
        ("run", "executor", ["code"]),
        ("verify", "judge", ["code", "run"]),
    ]
    assert plan.source == "fallback"


def test_fallback_step_inputs_are_what_the_downstream_arms_read() -> None:
    plan = fallback_plan(IS_PRIME, ARMS)
    assert plan.step("code").input == {
        "instruction": IS_PRIME,
        "language": "python",
        "request_type": "generate",
    }
    assert plan.step("run").input == {
        "language": "python",
        "calls": ["is_prime(2)", "is_prime(15)", "is_prime(17)"],
    }
    assert plan.step("verify").input == {"required_names": ["is_prime"]}


def test_a_search_goal_gives_a_hybrid_retriever_step_then_the_judge() -> None:
    goal = "Find the documentation about Celery chord error handling"
    plan = fallback_plan(goal, ARMS)
    assert shape(plan) == [("search", "retriever", []), ("verify", "judge", ["search"])]
    assert plan.step("search").input == {"query": goal, "method": "hybrid"}


def test_a_safety_goal_screens_the_goal_text_when_nothing_precedes_the_guardian() -> None:
    goal = "Make sure this support ticket contains no PII: call me at 555-0100"
    plan = fallback_plan(goal, ARMS)
    assert shape(plan) == [("screen", "guardian", []), ("verify", "judge", ["screen"])]
    assert plan.step("screen").input == {"text": goal}


def test_a_guardian_after_code_screens_the_outputs_of_its_dependencies() -> None:
    plan = fallback_plan("Write a script that prints the config without leaking secrets", ARMS)
    assert shape(plan) == [
        ("code", "coder", []),
        ("screen", "guardian", ["code"]),
        ("verify", "judge", ["code", "screen"]),
    ]
    assert plan.step("screen").input == {"text_from": "dependencies"}


def test_search_then_code_then_run_chains_in_that_order() -> None:
    plan = fallback_plan("Look up the ISO week rules and compute the week of 2024-12-30", ARMS)
    assert shape(plan) == [
        ("search", "retriever", []),
        ("code", "coder", ["search"]),
        ("run", "executor", ["code"]),
        ("verify", "judge", ["search", "code", "run"]),
    ]


def test_a_goal_that_matches_nothing_is_looked_up_and_judged() -> None:
    plan = fallback_plan("Summarise the causes of the 1929 stock market crash", ARMS)
    assert [s.arm for s in plan.steps] == ["retriever", "judge"]


def test_check_without_code_does_not_bring_in_the_executor() -> None:
    assert decide_arms("Check that the invoice total matches the line items") == {"judge"}
    assert "executor" in decide_arms("Write a function and check it")


def test_the_bug_keyword_asks_the_coder_to_debug() -> None:
    plan = fallback_plan("Fix the bug in `parse_date` that breaks on leap years", ARMS)
    assert plan.step("code").input["request_type"] == "debug"
    assert plan.step("verify").input["required_names"] == ["parse_date"]


def test_arms_outside_the_allowed_set_are_left_out_of_the_fallback() -> None:
    plan = fallback_plan(IS_PRIME, frozenset({"coder", "judge"}))
    assert shape(plan) == [("code", "coder", []), ("verify", "judge", ["code"])]


def test_the_executor_never_appears_without_a_coder_to_feed_it() -> None:
    plan = fallback_plan(IS_PRIME, frozenset({"executor", "judge"}))
    assert [s.arm for s in plan.steps] == ["judge"]


def test_acceptance_criteria_go_to_the_judge_step() -> None:
    plan = fallback_plan(IS_PRIME, ARMS, ["prints True for 17"])
    assert plan.step("verify").acceptance_criteria == ["prints True for 17"]


@pytest.mark.parametrize(
    ("goal", "names"),
    [
        ("function is_prime(n)", ["is_prime"]),
        ("a class Parser with def parse and `tokens`", ["tokens", "parse", "Parser"]),
        ("write a function that adds numbers", []),
    ],
)
def test_required_names_are_the_identifiers_the_goal_names(goal: str, names: list[str]) -> None:
    assert required_names(goal) == names


# -- repairs of a model's plan ----------------------------------------------------------------


def step(
    step_id: Any, arm: str, depends_on: list[Any] | None = None, **extra: Any
) -> dict[str, Any]:
    return {
        "step_id": step_id,
        "arm": arm,
        "action": f"do {arm}",
        "depends_on": depends_on or [],
        **extra,
    }


def test_dependencies_on_unknown_or_later_steps_are_dropped() -> None:
    repairs: list[str] = []
    steps = repair_steps(
        [
            step("a", "coder", ["ghost", "b"]),
            step("b", "executor", ["a", "b"]),
            step("c", "judge", ["a", "b"]),
        ],
        IS_PRIME,
        ARMS,
        repairs,
    )
    assert [s["depends_on"] for s in steps] == [[], ["a"], ["a", "b"]]
    assert len(repairs) == 3


def test_duplicate_step_ids_are_renumbered_and_later_references_mean_the_latest() -> None:
    repairs: list[str] = []
    steps = repair_steps(
        [step("s", "coder"), step("s", "executor", ["s"]), step("v", "judge", ["s"])],
        IS_PRIME,
        ARMS,
        repairs,
    )
    assert [(s["step_id"], s["depends_on"]) for s in steps] == [
        ("s", []),
        ("s_2", ["s"]),
        ("v", ["s_2"]),
    ]
    assert any("'s_2'" in r for r in repairs)


def test_numeric_dependencies_mean_the_nth_step_as_in_octollm() -> None:
    steps = repair_steps(
        [step(1, "coder"), step(2, "executor", [1]), step(3, "judge", [1, 2])], IS_PRIME, ARMS, []
    )
    assert [s["depends_on"] for s in steps] == [[], ["1"], ["1", "2"]]


def test_an_executor_without_a_coder_dependency_is_fed_by_the_latest_coder() -> None:
    repairs: list[str] = []
    steps = repair_steps(
        [
            step("c1", "coder"),
            step("c2", "coder"),
            step("run", "executor"),
            step("v", "judge", ["run"]),
        ],
        IS_PRIME,
        ARMS,
        repairs,
    )
    assert steps[2]["depends_on"] == ["c2"]
    assert repairs == ["run: now depends on coder step 'c2' for its code"]


def test_an_executor_with_no_earlier_coder_makes_the_plan_unusable() -> None:
    with pytest.raises(Unusable, match="no earlier coder"):
        repair_steps([step("run", "executor"), step("code", "coder")], IS_PRIME, ARMS, [])


def test_a_judge_with_no_dependency_checks_every_earlier_step() -> None:
    steps = repair_steps([step("code", "coder"), step("v", "judge")], IS_PRIME, ARMS, [])
    assert steps[1]["depends_on"] == ["code"]


def test_a_guardian_with_no_dependency_screens_the_goal_text() -> None:
    steps = repair_steps(
        [step("g", "guardian"), step("v", "judge", ["g"])], "is this safe?", ARMS, []
    )
    assert steps[0]["input"] == {"text": "is this safe?"}


def test_a_plan_that_needs_more_than_three_repairs_is_unusable() -> None:
    raw = [step("a b", "coder", ["x"]), step("c d", "executor", ["y"]), step("e", "judge", ["z"])]
    with pytest.raises(Unusable, match="needed 7 repairs"):
        repair_steps(raw, IS_PRIME, ARMS, [])


def test_a_judge_step_is_appended_when_the_last_step_is_not_one() -> None:
    repairs: list[str] = []
    steps = repair_steps(
        [step("code", "coder"), step("run", "executor", ["code"])], IS_PRIME, ARMS, repairs
    )
    assert steps[-1]["arm"] == "judge"
    assert steps[-1]["depends_on"] == ["code", "run"]
    assert repairs == ["appended judge step 'verify'"]


def test_default_inputs_fill_what_the_model_left_out_without_overriding_it() -> None:
    steps = repair_steps(
        [step("code", "coder", input={"instruction": "just is_prime"}), step("v", "judge")],
        IS_PRIME,
        ARMS,
        [],
    )
    assert steps[0]["input"] == {
        "instruction": "just is_prime",
        "language": "python",
        "request_type": "generate",
    }


@pytest.mark.parametrize(
    ("raw_steps", "reason"),
    [
        (None, "no steps"),
        ([], "no steps"),
        (["not a step"], "not an object"),
        ([step("a", "wizard"), step("b", "judge")], "uses arm 'wizard'"),
        ([step("a", "planner"), step("b", "judge")], "uses arm 'planner'"),
        ([{"step_id": "a", "arm": "coder"}, step("b", "judge")], "has no action"),
        ([step(str(i), "coder") for i in range(8)], "8 steps"),
        ([step("v", "judge")], "at least 2"),
    ],
)
def test_plans_that_cannot_be_safely_repaired_are_unusable(raw_steps: Any, reason: str) -> None:
    with pytest.raises(Unusable, match=reason):
        repair_steps(raw_steps, IS_PRIME, ARMS, [])


def test_a_model_plan_that_leaves_out_an_arm_the_goal_needs_is_unusable() -> None:
    raw = {"steps": [step("code", "coder"), step("check", "judge", ["code"])], "rationale": ""}
    with pytest.raises(Unusable, match="leaves out executor"):
        plan_from_llm(raw, IS_PRIME, ARMS, [])


def test_a_repaired_model_plan_validates_as_a_plan_with_source_llm() -> None:
    raw = {"plan": {"steps": [step("code", "coder"), step("run", "executor", ["code"])]}}
    plan = plan_from_llm(raw, IS_PRIME, ARMS, [])
    assert plan.source == "llm"
    assert [s.step_id for s in plan.steps] == ["code", "run", "verify"]


def test_unknown_arms_in_the_request_are_a_clear_input_error() -> None:
    with pytest.raises(InvalidInput, match="wizard"):
        allowed_arms(["coder", "wizard"], BUILTIN_ARMS)
    assert allowed_arms(None, ["coder", "planner", "judge"]) == {"coder", "judge"}


# -- the arm itself, with no model configured (ArmContext's default NoLLM) ------------------


def test_the_planner_arm_falls_back_when_no_llm_is_configured() -> None:
    ctx = ArmContext(task_id="t", step_id="plan", attempt=1, goal=IS_PRIME)
    out = call(PlannerArm(), {}, ctx).output
    assert out["source"] == "fallback"
    assert "LLM_UNAVAILABLE" in out["fallback_reason"]
