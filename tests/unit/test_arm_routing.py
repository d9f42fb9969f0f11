"""Choosing an arm by capability: OctoLLM's weighted score and the registry's health rule."""

from __future__ import annotations

import pytest

from octollm.contracts.arm_capability import ArmHealth
from octollm.orchestrator.registry.catalog import capability_of
from octollm.orchestrator.registry.scoring import (
    Candidate,
    capability_match,
    choose,
    health,
    observed_success,
    rank,
    score,
)


def cand(arm: str, caps: set[str], tier: int = 2, state: str = "healthy", rate: float = 0.9):
    return Candidate(arm, frozenset(caps), tier, ArmHealth(state), rate)


def test_the_score_weighs_match_health_success_and_cost_as_octollm_does() -> None:
    choice = score(cand("a", {"x", "y"}, tier=2, rate=0.5), ["x", "y"])
    parts = {"capability_match": 1.0, "availability": 1.0, "success": 0.5, "cost": 0.6}
    assert choice.parts == parts
    assert choice.score == pytest.approx(0.4 + 0.2 + 0.15 + 0.06)


def test_capability_match_is_the_share_of_needs_met_and_one_when_nothing_is_needed() -> None:
    assert capability_match({"a", "b"}, ["a", "c"]) == 0.5
    assert capability_match({"a"}, []) == 1.0


def test_an_arm_missing_a_needed_capability_does_not_compete_by_default() -> None:
    partial = cand("partial", {"x"}, tier=1, rate=1.0)
    full = cand("full", {"x", "y"}, tier=5, rate=0.1)
    assert choose([partial, full], ["x", "y"]).arm == "full"
    # The bare formula would prefer the cheap, reliable half-match: why plans require a full one.
    assert [c.arm for c in rank([partial, full], ["x", "y"], min_match=0.5)] == ["partial", "full"]


def test_an_unavailable_arm_is_never_chosen_and_a_degraded_one_loses_to_a_healthy_peer() -> None:
    need = ["x"]
    down = cand("down", {"x"}, tier=1, state="unavailable", rate=1.0)
    slow = cand("slow", {"x"}, tier=2, state="degraded", rate=0.95)
    fine = cand("fine", {"x"}, tier=2, state="healthy", rate=0.9)
    assert choose([down, slow, fine], need).arm == "fine"
    assert choose([down, slow], need).arm == "slow"
    assert choose([down], need) is None


def test_a_better_success_rate_beats_a_cheaper_tier_when_it_outweighs_it() -> None:
    cheap_flaky = cand("cheap", {"x"}, tier=1, rate=0.5)  # 0.4+0.2+0.15+0.08
    dear_steady = cand("dear", {"x"}, tier=4, rate=1.0)  # 0.4+0.2+0.30+0.02
    assert choose([cheap_flaky, dear_steady], ["x"]).arm == "dear"


def test_ties_go_to_the_cheaper_tier_then_the_name() -> None:
    a = cand("b-arm", {"x"}, tier=2, rate=0.9)
    b = cand("a-arm", {"x"}, tier=2, rate=0.9)
    assert choose([a, b], ["x"]).arm == "a-arm"


def test_code_analysis_goes_to_the_judge_over_the_coder_on_the_catalogue_values() -> None:
    judge, coder = capability_of("judge"), capability_of("coder")
    candidates = [
        Candidate(c.arm, frozenset(c.capabilities), c.cost_tier, ArmHealth.HEALTHY, c.success_rate)
        for c in (judge, coder)
    ]
    assert choose(candidates, ["code_analysis"]).arm == "judge"
    assert choose(candidates, ["code_analysis", "code_generation"]).arm == "coder"


@pytest.mark.parametrize(
    ("age", "recent", "expected"),
    [
        (None, (0, 0), "unavailable"),
        (5.0, (0, 0), "healthy"),
        (25.0, (0, 0), "degraded"),  # older than 2 intervals of 10 s
        (41.0, (0, 0), "unavailable"),  # older than 4 intervals: gone
        (5.0, (3, 3), "degraded"),  # 50 % recent success over 6 outcomes
        (5.0, (1, 3), "healthy"),  # too few outcomes to judge
    ],
)
def test_health_comes_from_heartbeat_age_and_recent_success(
    age: float | None, recent: tuple[int, int], expected: str
) -> None:
    state = health(age, 10.0, stale_after=2, expire_after=4, recent=recent, min_outcomes=5)
    assert state is ArmHealth(expected)


def test_the_observed_success_rate_replaces_the_declared_one_given_enough_outcomes() -> None:
    assert observed_success((1, 1), 0.9, 5) == 0.9
    assert observed_success((3, 2), 0.9, 5) == 0.6
