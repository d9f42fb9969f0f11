"""The Guardian as a library: ``scan(text, checks=...)`` and ``redact(text, style=...)``.

Pure functions, cheap enough for the API's reflex edge and usable as the pre/post filter.
Checks:

* ``pii`` - personal data plus shaped credentials (provider keys, JWTs, passwords in URLs);
* ``secrets`` - every credential detector, including private key blocks and assignments;
* ``injection`` - prompt-injection families (mode ``strict|standard|relaxed``);
* ``all`` - the three above.

Risk is the highest level found; ``safe = risk not in {high, critical}``;
``blocked = block_on_high_risk and not safe``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from octollm.arms.safety import pii, secrets
from octollm.arms.safety.finding import Detector, Finding, Risk, resolve_overlaps
from octollm.arms.safety.injection import Mode, detect_injection
from octollm.arms.safety.redaction import Style, apply
from octollm.contracts.arm_io import SafetyCheck

Check = SafetyCheck
CHECKS: tuple[str, ...] = ("pii", "secrets", "injection")

_DETECTORS: dict[str, tuple[Detector, ...]] = {
    "pii": pii.PII_DETECTORS + secrets.TOKEN_DETECTORS,
    "secrets": secrets.TOKEN_DETECTORS + secrets.GENERIC_DETECTORS,
}


def normalise_checks(checks: Iterable[str]) -> tuple[str, ...]:
    """Expand ``all`` and reject unknown names (ValueError), keeping a stable order."""
    wanted = set(checks) or {"all"}
    unknown = wanted - {*CHECKS, "all"}
    if unknown:
        raise ValueError(f"unknown check(s) {sorted(unknown)}; use {[*CHECKS, 'all']}")
    if "all" in wanted:
        return CHECKS
    return tuple(c for c in CHECKS if c in wanted)


@dataclass(frozen=True)
class SafetyResult:
    """OctoLLM's SafetyResult, plus the findings that produced it."""

    findings: tuple[Finding, ...]
    risk: Risk
    blocked: bool
    sanitized_text: str | None
    checks: tuple[str, ...]
    processing_time_ms: float

    @property
    def safe(self) -> bool:
        return self.risk < Risk.HIGH

    @property
    def risk_level(self) -> str:
        return self.risk.label

    def types_found(self, kind: str) -> list[str]:
        return sorted({f.subtype for f in self.findings if f.kind == kind})

    def to_output(self) -> dict[str, Any]:
        return {
            "safe": self.safe,
            "risk_level": self.risk_level,
            "blocked": self.blocked,
            "issues": [f.to_issue() for f in self.findings],
            "sanitized_text": self.sanitized_text,
            "metadata": {
                "checks_performed": list(self.checks),
                "pii_types_found": self.types_found("pii"),
                "secret_types_found": self.types_found("secret"),
                "injection_types_found": self.types_found("injection"),
                "processing_time_ms": round(self.processing_time_ms, 3),
                "block_reason": self.block_reason,
            },
        }

    @property
    def block_reason(self) -> str | None:
        if not self.blocked:
            return None
        worst = [f for f in self.findings if f.risk == self.risk]
        kinds = sorted({f"{f.kind}:{f.subtype}" for f in worst})
        return f"{self.risk_level} risk: {', '.join(kinds)}"


def find(
    text: str, checks: Iterable[str] = ("all",), *, injection_mode: Mode = "relaxed"
) -> list[Finding]:
    """Every finding of the given checks: redactable ones de-overlapped, then injections."""
    selected = normalise_checks(checks)
    detectors: dict[Detector, None] = {}
    for check in selected:
        for detector in _DETECTORS.get(check, ()):
            detectors[detector] = None  # ordered de-duplication
    redactable = resolve_overlaps(f for d in detectors for f in d(text))
    injections = detect_injection(text, injection_mode) if "injection" in selected else []
    return [*redactable, *injections]


def scan(
    text: str,
    checks: Iterable[str] = ("all",),
    *,
    redact_style: Style | None = "token",
    block_on_high_risk: bool = True,
    injection_mode: Mode = "relaxed",
) -> SafetyResult:
    """Screen ``text``; ``redact_style=None`` leaves ``sanitized_text`` empty (None)."""
    began = time.perf_counter()
    selected = normalise_checks(checks)
    findings = find(text, selected, injection_mode=injection_mode)
    sanitized = apply(text, findings, redact_style) if redact_style else None
    return summarise(
        findings,
        selected,
        sanitized=sanitized,
        block_on_high_risk=block_on_high_risk,
        began=began,
    )


def summarise(
    findings: list[Finding],
    checks: tuple[str, ...],
    *,
    sanitized: str | None,
    block_on_high_risk: bool,
    began: float,
) -> SafetyResult:
    """The verdict over ``findings``: highest risk, block decision, elapsed time since
    ``began`` (a ``time.perf_counter()`` value)."""
    risk = max((f.risk for f in findings), default=Risk.NONE)
    return SafetyResult(
        findings=tuple(findings),
        risk=risk,
        blocked=block_on_high_risk and risk >= Risk.HIGH,
        sanitized_text=sanitized,
        checks=checks,
        processing_time_ms=(time.perf_counter() - began) * 1000,
    )


def redact(text: str, style: Style = "token", checks: Iterable[str] = ("pii", "secrets")) -> str:
    """``text`` with its PII and secrets replaced (injections are reported, not rewritten)."""
    wanted = [c for c in normalise_checks(checks) if c != "injection"]
    return apply(text, find(text, wanted), style)
