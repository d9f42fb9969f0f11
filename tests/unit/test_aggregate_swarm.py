"""Swarm steps: plan expansion and the four aggregation strategies (pure logic)."""

from __future__ import annotations

from typing import Any

import pytest

from octollm.arms.base import ArmContext, ArmResult
from octollm.arms.boundary import call
from octollm.contracts.arm_io import JudgeInput, OpenOutput
from octollm.contracts.plan import Plan
from octollm.errors import InvalidPlan, PermanentError
from octollm.orchestrator.engine import expansion, swarm
from octollm.orchestrator.engine.swarm import Proposal, decide


def P(variant: str, answer: Any, confidence: float) -> Proposal:
    return Proposal(variant, {"answer": answer}, confidence)


def FAILED(variant: str) -> Proposal:
    return Proposal(variant, None, 0.0, error={"code": "ARM_FAILED"})


def test_a_swarm_step_expands_into_variants_and_an_aggregator_that_keeps_its_id() -> None:
    plan = Plan.model_validate(
        {
            "steps": [
                {"step_id": "a", "arm": "coder", "action": "first"},
                {
                    "step_id": "s",
                    "arm": "coder",
                    "action": "propose",
                    "depends_on": ["a"],
                    "input": {"q": 1, "swarm": {"size": 3, "strategy": "majority_vote"}},
                },
                {"step_id": "z", "arm": "judge", "action": "after", "depends_on": ["s"]},
            ]
        }
    )
    rows = {r["step_id"]: r for r in expansion.rows("t", plan, 1, 2)}
    assert list(rows) == ["a", "s~0", "s~1", "s~2", "s", "z"]
    for i in range(3):
        v = rows[f"s~{i}"]
        assert v["arm"] == "coder"
        assert v["depends_on"] == ["a"]
        assert v["critical"] is False
        assert v["input"]["seed"] == i
        assert v["input"]["variant"] == f"approach_{i + 1}"
        assert v["input"]["q"] == 1
        assert "swarm" not in v["input"]
    temperatures = [rows[f"s~{i}"]["input"]["temperature"] for i in range(3)]
    assert len(set(temperatures)) == 3
    agg = rows["s"]
    assert agg["arm"] == "orchestrator"
    assert agg["depends_on"] == ["s~0", "s~1", "s~2"]
    assert agg["critical"] is True
    assert swarm.is_aggregator(agg["input"])
    assert rows["z"]["depends_on"] == ["s"]
    assert swarm.is_variant("s~1")
    assert not swarm.is_variant("s")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"size": 1}, "size must be an integer from 2 to 10"),
        ({"size": 11}, "size must be an integer from 2 to 10"),
        ({"size": 3, "strategy": "coin_flip"}, "strategy must be one of"),
        ({"size": 3, "colour": "red"}, "unknown fields"),
        ("three", "must be an object"),
    ],
)
def test_invalid_swarm_settings_are_refused_with_the_step_named(spec: Any, message: str) -> None:
    with pytest.raises(InvalidPlan, match=message) as info:
        swarm.spec_of("s", {"swarm": spec})
    assert "'s'" in info.value.message


def test_majority_vote_picks_the_most_common_answer_and_its_most_confident_member() -> None:
    result = decide("majority_vote", [P("s~0", "A", 0.6), P("s~1", "B", 0.99), P("s~2", "A", 0.7)])
    assert result["final_answer"] == {"answer": "A"}
    assert result["winner"] == "s~2"
    assert sorted(result["votes"].values()) == [1.0, 2.0]


def test_weighted_vote_sums_confidence_over_similar_answers() -> None:
    proposals = [
        P("s~0", "the cache key must use sha256", 0.5),
        P("s~1", "use python hash for keys", 0.9),
        P("s~2", "the cache key must use sha256 !", 0.6),
    ]
    result = decide("weighted_vote", proposals, key="answer")
    assert result["winner"] == "s~2"  # group of s~0 and s~2 weighs 1.1 > 0.9
    assert result["votes"] == {"s~0": 1.1, "s~1": 0.9}


def test_highest_confidence_picks_the_single_most_confident_proposal() -> None:
    result = decide(
        "highest_confidence", [P("s~0", "A", 0.6), P("s~1", "B", 0.99), P("s~2", "A", 0.7)]
    )
    assert result["winner"] == "s~1"


def test_judge_mediated_prefers_valid_proposals_then_quality() -> None:
    verdicts = {
        "s~0": {"valid": False, "quality_score": 0.9},
        "s~1": {"valid": True, "quality_score": 0.5},
        "s~2": {"valid": True, "quality_score": 0.8},
    }
    proposals = [P("s~0", "A", 1.0), P("s~1", "B", 1.0), P("s~2", "C", 0.1)]
    result = decide("judge_mediated", proposals, verdicts=verdicts)
    assert result["winner"] == "s~2"
    assert result["all_proposals"][0]["verdict"]["valid"] is False
    with pytest.raises(PermanentError, match="no valid proposal"):
        decide("judge_mediated", proposals, verdicts={k: {"valid": False} for k in verdicts})


def test_fewer_than_two_valid_proposals_is_a_clear_failure() -> None:
    with pytest.raises(PermanentError, match="at least 2 valid proposals; got 1 of 3") as info:
        decide("majority_vote", [FAILED("s~0"), P("s~1", "A", 1.0), FAILED("s~2")])
    assert set(info.value.details["failures"]) == {"s~0", "s~2"}


def test_failed_variants_are_listed_but_do_not_vote() -> None:
    result = decide("majority_vote", [FAILED("s~0"), P("s~1", "A", 0.5), P("s~2", "A", 0.5)])
    assert result["final_answer"] == {"answer": "A"}
    assert [p["status"] for p in result["all_proposals"]] == ["failed", "completed", "completed"]
    assert result["consensus_score"] == 1.0


class _Judge:
    """A judge that accepts only answers in ``good`` (stands in for the judge arm's verdict)."""

    name = "judge"
    capabilities = frozenset({"judging"})
    input_model = JudgeInput
    output_model = OpenOutput

    def __init__(self, good: set[str]) -> None:
        self.good = good

    def run(self, input: JudgeInput, ctx: ArmContext) -> ArmResult[OpenOutput]:
        valid = input.output in self.good
        verdict = {"valid": valid, "confidence": 1.0, "quality_score": 1.0 if valid else 0.0}
        return ArmResult(output=OpenOutput.model_validate(verdict))


def test_the_aggregator_runs_like_an_arm_over_the_proposals_it_is_given() -> None:
    cfg = {"_swarm": {"arm": "coder", "size": 3, "strategy": "judge_mediated", "key": "answer"}}
    deps = {
        "s~0": {"output": {"answer": "bad"}, "confidence": 0.9},
        "s~1": {"output": {"answer": "good"}, "confidence": 0.4},
        "s~2": {"_gap": {"status": "failed", "error": {"code": "ARM_FAILED"}}},
    }
    ctx = ArmContext(task_id="t", step_id="s", attempt=1, goal="g", dependencies=deps)
    result = call(swarm.SwarmAggregator(_Judge({"good"})), cfg, ctx)
    assert result.output["winner"] == "s~1"
    assert result.output["final_answer"] == {"answer": "good"}
    assert result.confidence == 0.4
