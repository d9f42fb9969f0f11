"""Choosing an arm by capability (pure): OctoLLM's weighted score, and the health rule.

A plan step may name what it needs instead of who does it (``arm: "auto"`` with
``input.capabilities: [...]``); the orchestrator resolves it when the plan is expanded, among
the arms the registry knows, with OctoLLM's ArmRouter score::

    score = 0.4 * capability_match    |have & need| / |need|  (1.0 when nothing is needed)
          + 0.2 * availability        healthy 1.0, degraded 0.5, unavailable 0.0
          + 0.3 * historical_success  the recent observed success rate, else the declared one
          + 0.1 * cost_efficiency     1 - cost_tier / 5

Only arms that are not unavailable and match at least ``min_match`` of the needs compete
(plans use 1.0: an arm that lacks a needed capability is not a candidate); ties go to the
cheaper tier, then the name, so the choice is deterministic. Deviation from OctoLLM: it scores
availability 0/1; a degraded arm here keeps half, so a slow-but-alive arm still beats nothing
and loses to a healthy peer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from octollm.contracts.arm_capability import ArmHealth

WEIGHTS = {"capability_match": 0.4, "availability": 0.2, "success": 0.3, "cost": 0.1}
AVAILABILITY = {ArmHealth.HEALTHY: 1.0, ArmHealth.DEGRADED: 0.5, ArmHealth.UNAVAILABLE: 0.0}


@dataclass(frozen=True)
class Candidate:
    arm: str
    capabilities: frozenset[str]
    cost_tier: int
    health: ArmHealth
    success_rate: float


@dataclass(frozen=True)
class Choice:
    arm: str
    score: float
    parts: dict[str, float]


def capability_match(have: Iterable[str], need: Iterable[str]) -> float:
    wanted = set(need)
    if not wanted:
        return 1.0
    return len(wanted & set(have)) / len(wanted)


def score(candidate: Candidate, need: Sequence[str]) -> Choice:
    parts = {
        "capability_match": capability_match(candidate.capabilities, need),
        "availability": AVAILABILITY[candidate.health],
        "success": max(0.0, min(1.0, candidate.success_rate)),
        "cost": 1.0 - candidate.cost_tier / 5.0,
    }
    total = sum(WEIGHTS[k] * v for k, v in parts.items())
    return Choice(candidate.arm, round(total, 6), parts)


def rank(
    candidates: Iterable[Candidate], need: Sequence[str], *, min_match: float = 1.0
) -> list[Choice]:
    """The eligible candidates, best first."""
    by_arm = {c.arm: c for c in candidates}
    scored = [
        score(c, need)
        for c in by_arm.values()
        if c.health is not ArmHealth.UNAVAILABLE
        and capability_match(c.capabilities, need) >= min_match
    ]
    return sorted(scored, key=lambda ch: (-ch.score, by_arm[ch.arm].cost_tier, ch.arm))


def choose(
    candidates: Iterable[Candidate], need: Sequence[str], *, min_match: float = 1.0
) -> Choice | None:
    ranked = rank(candidates, need, min_match=min_match)
    return ranked[0] if ranked else None


def health(
    heartbeat_age: float | None,
    interval: float,
    *,
    stale_after: float,
    expire_after: float,
    recent: tuple[int, int] = (0, 0),
    min_outcomes: int = 5,
    degraded_below: float = 0.8,
) -> ArmHealth:
    """An arm's health from its freshest heartbeat (seconds old, None: none) and its recent
    ``(succeeded, failed)`` step outcomes."""
    if heartbeat_age is None or heartbeat_age > expire_after * interval:
        return ArmHealth.UNAVAILABLE
    if heartbeat_age > stale_after * interval:
        return ArmHealth.DEGRADED
    ok, failed = recent
    if ok + failed >= min_outcomes and ok / (ok + failed) < degraded_below:
        return ArmHealth.DEGRADED
    return ArmHealth.HEALTHY


def observed_success(recent: tuple[int, int], declared: float, min_outcomes: int) -> float:
    """The recent success rate once there are enough outcomes, else the declared one."""
    ok, failed = recent
    if ok + failed < min_outcomes:
        return declared
    return ok / (ok + failed)
