"""Swarm steps (OctoLLM §4.2): N variants of one arm propose, an aggregator decides.

A plan step opts in through its input::

    {"step_id": "fix", "arm": "coder", "action": "...",
     "input": {..., "swarm": {"size": 3, "strategy": "weighted_vote", "key": "code"}}}

``expand`` turns it into ordinary step rows, so claims, leases, retries, dead letters and the
reconciler treat a swarm like any other part of the DAG:

* ``fix~0 .. fix~{N-1}``: the variants, optional steps of the same arm with the same
  dependencies; each input gets ``seed=i``, ``variant="approach_{i+1}"`` and a temperature.
  They form one level, hence one group (a chord header) in the canvas.
* ``fix``: the aggregator, depending on the variants. It runs on the orchestrator's queues
  (on the judge's for ``judge_mediated``), reads the proposals from Postgres and keeps the
  step's id, criticality and dependants. Its output is OctoLLM's SwarmResult.

Strategies: ``majority_vote`` (identical content), ``weighted_vote`` (groups of similar
content, by summed confidence; the default), ``highest_confidence``, and ``judge_mediated`` (the
judge arm validates each proposal; the best valid one wins). Fewer than two valid proposals is a
clear failure. ``key`` names the output field that is compared (default: the whole output).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from octollm.arms import boundary
from octollm.arms.base import Arm, ArmContext, ArmResult
from octollm.contracts.arm_io import ArmInput, OpenOutput
from octollm.errors import InvalidPlan, PermanentError
from octollm.orchestrator.broker import queues as routing

SEP = "~"
MARKER = "_swarm"
STRATEGIES = ("majority_vote", "weighted_vote", "highest_confidence", "judge_mediated")
MIN_SIZE, MAX_SIZE = 2, 10
MIN_VALID = 2
SIMILAR = 0.8
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class SwarmSpec:
    size: int
    strategy: str = "weighted_vote"
    key: str | None = None
    temperature: float = 0.7
    temperature_spread: float = 0.2


def spec_of(step_id: str, step_input: dict[str, Any]) -> SwarmSpec | None:
    """The swarm settings of a plan step, or None; raises ``InvalidPlan`` naming the problem."""
    raw = step_input.get("swarm")
    if raw is None:
        return None
    where = f"step {step_id!r}: input.swarm"
    if not isinstance(raw, dict):
        raise InvalidPlan(f"{where} must be an object like {{'size': 3, 'strategy': ...}}")
    unknown = set(raw) - {"size", "strategy", "key", "temperature", "temperature_spread"}
    if unknown:
        raise InvalidPlan(f"{where} has unknown fields {sorted(unknown)}")
    size = raw.get("size", 3)
    if not isinstance(size, int) or isinstance(size, bool) or not MIN_SIZE <= size <= MAX_SIZE:
        raise InvalidPlan(f"{where}.size must be an integer from {MIN_SIZE} to {MAX_SIZE}")
    strategy = raw.get("strategy", "weighted_vote")
    if strategy not in STRATEGIES:
        raise InvalidPlan(f"{where}.strategy must be one of {', '.join(STRATEGIES)}")
    key = raw.get("key")
    if key is not None and not isinstance(key, str):
        raise InvalidPlan(f"{where}.key must be a field name")
    if len(step_id) + len(SEP) + len(str(size - 1)) > 64:
        raise InvalidPlan(f"step {step_id!r}: a swarm step's id must be at most 61 characters")
    return SwarmSpec(
        size=size,
        strategy=strategy,
        key=key,
        temperature=float(raw.get("temperature", 0.7)),
        temperature_spread=float(raw.get("temperature_spread", 0.2)),
    )


def variant_id(step_id: str, index: int) -> str:
    return f"{step_id}{SEP}{index}"


def is_variant(step_id: str) -> bool:
    return SEP in step_id


def is_aggregator(step_input: dict[str, Any]) -> bool:
    return MARKER in step_input


def expand(row: dict[str, Any], spec: SwarmSpec) -> list[dict[str, Any]]:
    """One plan step's row -> its variant rows followed by its aggregator row."""
    base_input = {k: v for k, v in row["input"].items() if k != "swarm"}
    variants = []
    for i in range(spec.size):
        spread = spec.temperature_spread * (i - (spec.size - 1) / 2)
        variants.append(
            {
                **row,
                "step_id": variant_id(row["step_id"], i),
                "input": {
                    **base_input,
                    "seed": i,
                    "variant": f"approach_{i + 1}",
                    "temperature": round(max(0.0, min(2.0, spec.temperature + spread)), 3),
                },
                "critical": False,
            }
        )
    aggregator = {
        **row,
        "arm": "judge" if spec.strategy == "judge_mediated" else routing.CONTROL_ARM,
        "action": f"decide among {spec.size} {row['arm']} proposals ({spec.strategy})",
        "input": {
            MARKER: {
                "arm": row["arm"],
                "size": spec.size,
                "strategy": spec.strategy,
                "key": spec.key,
                "acceptance_criteria": row["input"].get("acceptance_criteria", []),
            }
        },
        "depends_on": [v["step_id"] for v in variants],
    }
    return [*variants, aggregator]


@dataclass(frozen=True)
class Proposal:
    variant: str
    output: dict[str, Any] | None
    confidence: float
    error: dict[str, Any] | None = None

    @property
    def valid(self) -> bool:
        return self.output is not None

    def content(self, key: str | None) -> Any:
        if self.output is None:
            return None
        return self.output.get(key) if key else self.output


def content_hash(content: Any) -> str:
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[
        :16
    ]


def similarity(a: Any, b: Any) -> float:
    """Word Jaccard of the two contents' text (OctoLLM's 'for now' measure)."""
    wa = set(_WORD.findall(a if isinstance(a, str) else json.dumps(a, sort_keys=True).lower()))
    wb = set(_WORD.findall(b if isinstance(b, str) else json.dumps(b, sort_keys=True).lower()))
    if not wa and not wb:
        return 1.0
    return len(wa & wb) / len(wa | wb)


def _best(members: list[Proposal]) -> Proposal:
    return max(members, key=lambda p: p.confidence)  # ties: the first (max is stable)


def decide(
    strategy: str,
    proposals: list[Proposal],
    key: str | None = None,
    verdicts: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Aggregate ``proposals`` into a SwarmResult; needs at least two valid proposals."""
    valid = [p for p in proposals if p.valid]
    if len(valid) < MIN_VALID:
        raise PermanentError(
            f"swarm needs at least {MIN_VALID} valid proposals; got {len(valid)} of "
            f"{len(proposals)}",
            details={
                "valid": len(valid),
                "required": MIN_VALID,
                "failures": {p.variant: p.error for p in proposals if not p.valid},
            },
        )
    votes: dict[str, float] = {}
    if strategy == "majority_vote":
        groups: dict[str, list[Proposal]] = {}
        for p in valid:
            groups.setdefault(content_hash(p.content(key)), []).append(p)
        ranked = sorted(
            groups.values(), key=lambda g: (len(g), sum(p.confidence for p in g)), reverse=True
        )
        winner = _best(ranked[0])
        votes = {content_hash(g[0].content(key)): float(len(g)) for g in ranked}
    elif strategy == "weighted_vote":
        clusters: list[list[Proposal]] = []
        for p in valid:
            for cluster in clusters:
                if similarity(cluster[0].content(key), p.content(key)) >= SIMILAR:
                    cluster.append(p)
                    break
            else:
                clusters.append([p])
        weights = [sum(p.confidence for p in c) for c in clusters]
        chosen = clusters[weights.index(max(weights))]
        winner = _best(chosen)
        votes = {c[0].variant: round(w, 6) for c, w in zip(clusters, weights, strict=True)}
    elif strategy == "highest_confidence":
        winner = _best(valid)
    elif strategy == "judge_mediated":
        verdicts = verdicts or {}

        def score(p: Proposal) -> tuple[bool, float, float]:
            v = verdicts.get(p.variant, {})
            return (bool(v.get("valid")), float(v.get("quality_score", 0.0)), p.confidence)

        winner = max(valid, key=score)
        if not score(winner)[0]:
            raise PermanentError(
                "swarm: the judge found no valid proposal",
                details={"verdicts": verdicts},
            )
    else:
        raise PermanentError(f"unknown swarm strategy {strategy!r}")
    pairs = list(combinations(valid, 2))
    consensus = (
        sum(similarity(a.content(key), b.content(key)) for a, b in pairs) / len(pairs)
        if pairs
        else 1.0
    )
    return {
        "final_answer": winner.output,
        "winner": winner.variant,
        "aggregation_method": strategy,
        "consensus_score": round(consensus, 4),
        "votes": votes,
        "all_proposals": [
            {
                "variant": p.variant,
                "status": "completed" if p.valid else "failed",
                "confidence": p.confidence,
                "content_hash": content_hash(p.content(key)) if p.valid else None,
                **({"verdict": verdicts[p.variant]} if verdicts and p.variant in verdicts else {}),
            }
            for p in proposals
        ],
    }


def proposals_from(dependencies: dict[str, dict[str, Any]]) -> list[Proposal]:
    """The runner hands an aggregator ``{variant: {"output", "confidence"} | {"_gap": ...}}``."""
    out = []
    for variant in sorted(dependencies, key=lambda v: int(v.rpartition(SEP)[2] or 0)):
        dep = dependencies[variant]
        if "_gap" in dep:
            out.append(Proposal(variant, None, 0.0, error=dep["_gap"].get("error")))
        else:
            out.append(Proposal(variant, dep["output"], float(dep.get("confidence", 1.0))))
    return out


class SwarmAggregator:
    """Runs an aggregator step like an arm: ``run(input, ctx)`` with proposals as dependencies.

    ``judge`` (judge_mediated only) is the judge arm, called once per valid proposal."""

    name = "swarm"
    capabilities = frozenset({"swarm_aggregation"})
    input_model = ArmInput  # the aggregator's settings ride in the ``_swarm`` bookkeeping key
    output_model = OpenOutput

    def __init__(self, judge: Arm[Any, Any] | None = None) -> None:
        self.judge = judge

    def run(self, input: ArmInput, ctx: ArmContext) -> ArmResult[OpenOutput]:
        cfg = (input.model_extra or {})[MARKER]
        proposals = proposals_from(ctx.dependencies)
        key = cfg.get("key")
        verdicts: dict[str, dict[str, Any]] | None = None
        if cfg["strategy"] == "judge_mediated" and self.judge is not None:
            verdicts = {}
            for p in proposals:
                if not p.valid:
                    continue
                ctx.check_cancelled()
                judged = boundary.call(
                    self.judge,
                    {
                        "output": p.content(key),
                        "acceptance_criteria": cfg.get("acceptance_criteria", []),
                        "validation_types": ["schema", "criteria", "quality"],
                    },
                    ctx,
                )
                verdicts[p.variant] = {
                    k: judged.output.get(k) for k in ("valid", "confidence", "quality_score")
                }
        result = decide(cfg["strategy"], proposals, key, verdicts)
        winner = next(p for p in proposals if p.variant == result["winner"])
        return ArmResult(
            output=OpenOutput.model_validate(result),
            confidence=max(0.0, min(1.0, winner.confidence)),
        )
