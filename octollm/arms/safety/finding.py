"""What a safety check finds: a typed span of text with a risk level and a confidence.

A ``Finding`` never holds the raw matched value: only its position and a masked rendering, so
that issues, logs and events built from it cannot leak what was detected.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Literal

Kind = Literal["pii", "secret", "injection"]


class Risk(IntEnum):
    """Ordered risk scale; the result's risk is the highest found."""

    NONE = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: str) -> Risk:
        return cls[value.strip().upper()]

    def lowered(self, steps: int = 1) -> Risk:
        """This level ``steps`` lower, never below LOW (a finding stays reportable)."""
        return Risk(max(Risk.LOW, self - steps))


@dataclass(frozen=True)
class Finding:
    """One detected span. ``start``/``end`` delimit the sensitive part (for a password in a
    URL, the password alone), which is also what redaction replaces."""

    kind: Kind
    subtype: str
    risk: Risk
    start: int
    end: int
    confidence: float
    message: str
    #: The rule that fired (``en.ignore_previous``, ``base64>fr.ignore_previous``), so that a
    #: decision can explain itself by rule, span and score.
    rule: str = ""

    def overlaps(self, other: Finding) -> bool:
        return self.start < other.end and other.start < self.end

    def to_issue(self) -> dict[str, Any]:
        return {
            "type": self.kind,
            "subtype": self.subtype,
            "risk_level": self.risk.label,
            "message": self.message,
            "start": self.start,
            "end": self.end,
            "confidence": round(self.confidence, 3),
            **({"rule": self.rule} if self.rule else {}),
        }


#: A detector reads text and yields what it finds.
Detector = Callable[[str], Iterable[Finding]]


def resolve_overlaps(findings: Iterable[Finding]) -> list[Finding]:
    """Keep a non-overlapping subset: higher risk first, then confidence, then the longer span.

    Used for redactable findings (PII and secrets), where two detectors may claim the same
    characters (an IBAN's digits look like a phone number; ``user:pass@host`` holds an
    email-like tail). Returned in text order.
    """
    ranked = sorted(
        findings,
        key=lambda f: (-f.risk, -f.confidence, -(f.end - f.start), f.start),
    )
    kept: list[Finding] = []
    for candidate in ranked:
        if not any(candidate.overlaps(k) for k in kept):
            kept.append(candidate)
    return sorted(kept, key=lambda f: (f.start, f.end))
