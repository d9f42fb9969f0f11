"""Each arm's ``ArmCapability``: OctoLLM's canonical registry values for the built-in arms,
and what a plugin declares about itself.

Capabilities are the union of the digest's registry tags and the arm class's own
``capabilities`` (the tags plans and routing use). A plugin arm may set ``cost_tier``,
``average_latency_ms``, ``success_rate``, ``max_concurrent_tasks``, ``description`` and
``version`` as class attributes; unset ones take the defaults below.
"""

from __future__ import annotations

from typing import Any

from octollm.arms.registry import get_arm
from octollm.contracts.arm_capability import ArmCapability

#: arm -> (registry tags, cost tier, latency ms, success rate, max concurrent, description)
CANONICAL: dict[str, tuple[tuple[str, ...], int, float, float, int, str]] = {
    "planner": (
        ("planning", "decomposition", "dependency_resolution"),
        2, 1200, 0.92, 15, "Decomposes a goal into a plan of steps",
    ),
    "coder": (
        ("code_generation", "code_analysis", "refactoring"),
        3, 1500, 0.94, 20, "Generates, debugs, refactors and explains code",
    ),
    "executor": (
        ("tool_execution", "sandbox_management", "security_scanning"),
        4, 2500, 0.88, 10, "Runs code and allowlisted commands in a sandbox",
    ),
    "retriever": (
        ("documentation_search", "summarization", "context_extraction"),
        2, 800, 0.96, 25, "Searches the knowledge base by vectors and keywords",
    ),
    "judge": (
        ("result_validation", "quality_assurance", "testing"),
        2, 900, 0.98, 30, "Validates outputs against rules and acceptance criteria",
    ),
    # Not in the digest's table: deterministic, no LLM (tier 1), fast.
    "guardian": (
        ("pii_detection", "secret_detection", "content_filtering", "output_redaction"),
        1, 50, 0.99, 50, "Screens text for PII, secrets and prompt injection",
    ),
}  # fmt: skip

DEFAULT_TIER, DEFAULT_LATENCY_MS, DEFAULT_SUCCESS, DEFAULT_CONCURRENCY = 3, 1000.0, 0.9, 10


def capability_of(name: str, arm: Any | None = None) -> ArmCapability:
    """The ``ArmCapability`` of arm ``name`` (loaded from the registry unless given)."""
    arm = arm if arm is not None else get_arm(name)
    own = sorted(str(c) for c in getattr(arm, "capabilities", ()))
    if name in CANONICAL:
        tags, tier, latency, success, concurrency, description = CANONICAL[name]
        return ArmCapability(
            arm=name,
            description=description,
            capabilities=sorted({*tags, *own}),
            cost_tier=tier,
            average_latency_ms=latency,
            success_rate=success,
            max_concurrent_tasks=concurrency,
        )
    doc = (type(arm).__doc__ or "").strip().splitlines()
    return ArmCapability(
        arm=name,
        description=str(getattr(arm, "description", doc[0] if doc else ""))[:500],
        capabilities=own or [name],
        cost_tier=int(getattr(arm, "cost_tier", DEFAULT_TIER)),
        average_latency_ms=float(getattr(arm, "average_latency_ms", DEFAULT_LATENCY_MS)),
        success_rate=float(getattr(arm, "success_rate", DEFAULT_SUCCESS)),
        max_concurrent_tasks=int(getattr(arm, "max_concurrent_tasks", DEFAULT_CONCURRENCY)),
        version=str(getattr(arm, "version", "1.0.0"))[:32],
    )
