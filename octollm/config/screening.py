"""The screening policy table: what the reflex edge does with a finding, per category and severity.

Declared here, in the foundation, because it is configuration (``OCTOLLM_API__SCREENING`` and
each tenant's ``screening``) that ``Settings`` validates when it is read; the screening logic
that applies it (``decide``, ``verdict``) lives in ``octollm.arms.safety.policy``, which
re-exports this model. A finding is anything with a ``kind``, a ``risk`` with a ``label`` and
a ``confidence`` (``octollm.arms.safety.finding.Finding``).
"""

from __future__ import annotations

from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

Action = Literal["block", "flag", "off"]
SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")
PRESETS: tuple[str, ...] = ("default", "block", "redact", "warn", "off")


class _Risk(Protocol):
    @property
    def label(self) -> str: ...


class Scored(Protocol):
    """What a policy needs of a finding."""

    @property
    def kind(self) -> str: ...
    @property
    def risk(self) -> _Risk: ...
    @property
    def confidence(self) -> float: ...


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

    def action(self, finding: Scored) -> Action:
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


#: A preset name or a full table. ``default`` refuses only high-confidence critical findings
#: and flags the rest; ``block`` refuses high and critical.
Screening = Literal["default", "block", "redact", "warn", "off"] | ScreeningPolicy

__all__ = ["PRESETS", "SEVERITIES", "Action", "Scored", "Screening", "ScreeningPolicy"]
