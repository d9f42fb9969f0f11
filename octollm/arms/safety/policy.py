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
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from octollm.arms.safety.finding import Finding

Action = Literal["block", "flag", "off"]
SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")
PRESETS: tuple[str, ...] = ("default", "block", "redact", "warn", "off")


def _table(low: Action, medium: Action, high: Action, critical: Action) -> dict[str, Action]:
    return {"low": low, "medium": medium, "high": high, "critical": critical}


def _default_table() -> dict[str, Action]:
    return _table("off", "flag", "flag", "block")


class ScreeningPolicy(BaseModel):
    """One tenant's screening policy (``OCTOLLM_API__TENANTS='{"acme": {"screening":
    {"injection": {"high": "block"}}}}'``); cells left out keep the default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(default="custom", description="A preset name, or custom.")
    injection: dict[str, Action] = Field(default_factory=_default_table)
    pii: dict[str, Action] = Field(default_factory=_default_table)
    secret: dict[str, Action] = Field(default_factory=_default_table)
    block_min_score: float = Field(
        default=0.8,
        ge=0,
        le=1,
        description="A 'block' cell refuses a finding only from this score up; below, it flags.",
    )
    redact: bool = Field(default=False, description="Replace flagged PII and secrets.")

    @field_validator("injection", "pii", "secret")
    @classmethod
    def _known_severities(cls, table: dict[str, Action]) -> dict[str, Action]:
        unknown = set(table) - set(SEVERITIES)
        if unknown:
            raise ValueError(f"unknown severities {sorted(unknown)}; use {list(SEVERITIES)}")
        return table

    def action(self, finding: Finding) -> Action:
        table = {"injection": self.injection, "pii": self.pii, "secret": self.secret}[finding.kind]
        action = table.get(finding.risk.label, _default_table().get(finding.risk.label, "off"))
        if action == "block" and finding.confidence < self.block_min_score:
            return "flag"
        return action

    @classmethod
    def preset(cls, name: str) -> ScreeningPolicy:
        if name == "default":
            return cls(name=name)
        if name == "block":
            strict = _table("flag", "flag", "block", "block")
            return cls(name=name, injection=strict, pii=strict, secret=strict, block_min_score=0)
        if name == "redact":
            flag = _table("flag", "flag", "flag", "flag")
            refuse = _table("flag", "flag", "block", "block")
            return cls(name=name, injection=refuse, pii=flag, secret=flag, redact=True,
                       block_min_score=0)  # fmt: skip
        if name == "warn":
            flag = _table("flag", "flag", "flag", "flag")
            return cls(name=name, injection=flag, pii=flag, secret=flag)
        if name == "off":
            off = _table("off", "off", "off", "off")
            return cls(name=name, injection=off, pii=off, secret=off)
        raise ValueError(f"unknown screening preset {name!r}; use one of {list(PRESETS)}")


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
    "Action",
    "Decision",
    "ScreeningPolicy",
    "decide",
    "resolve",
    "verdict",
]
