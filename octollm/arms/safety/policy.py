"""What screening does with a finding: ``block``, ``flag`` or ``off``, per category and severity.

A policy is a table (category x severity -> action) plus a score floor for blocking: a
``block`` cell refuses only findings whose score (``Finding.confidence``) reaches
``block_min_score``; less certain ones are flagged instead. The default blocks only
high-confidence critical findings and flags everything from medium up::

                 low   medium  high  critical
    injection    off   flag    flag  block (score >= 0.8)
    pii          off   flag    flag  block (score >= 0.8)
    secret       off   flag    flag  block (score >= 0.8)

Every decision names its rule, span and score, so a refusal or a flag explains itself.
The presets keep the old tenant settings working: ``block`` (high and critical refused),
``redact`` (PII and secrets flagged and redacted, high injections refused), ``warn``
(everything flagged, nothing refused) and ``off``.

The table itself (``ScreeningPolicy``, its presets) is configuration, declared in
``octollm.config.screening`` (so that ``Settings`` validates it) and re-exported here; this
module applies it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from octollm.arms.safety.finding import Finding
from octollm.config.screening import PRESETS, SEVERITIES, Action, ScreeningPolicy


def resolve(policy: str | ScreeningPolicy) -> ScreeningPolicy:
    return policy if isinstance(policy, ScreeningPolicy) else ScreeningPolicy.preset(policy)


DEFAULT_POLICY = ScreeningPolicy.preset("default")


@dataclass(frozen=True)
class Decision:
    """What the policy did with one finding, and why."""

    finding: Finding
    action: Action

    def explain(self) -> dict[str, object]:
        f = self.finding
        return {
            "kind": f.kind,
            "subtype": f.subtype,
            "risk": f.risk.label,
            "action": self.action,
            "rule": f.rule or f.subtype,
            "start": f.start,
            "end": f.end,
            "score": round(f.confidence, 3),
            "reason": f.message,
        }


def decide(findings: Iterable[Finding], policy: ScreeningPolicy = DEFAULT_POLICY) -> list[Decision]:
    """A decision for every finding the policy does not switch off."""
    decisions = [Decision(f, policy.action(f)) for f in findings]
    return [d for d in decisions if d.action != "off"]


def verdict(decisions: Iterable[Decision]) -> Action:
    """``block`` if any decision blocks, else ``flag`` if any flags, else ``off``."""
    actions = {d.action for d in decisions}
    return "block" if "block" in actions else "flag" if "flag" in actions else "off"


__all__ = [
    "DEFAULT_POLICY",
    "PRESETS",
    "SEVERITIES",
    "Action",
    "Decision",
    "ScreeningPolicy",
    "decide",
    "resolve",
    "verdict",
]
