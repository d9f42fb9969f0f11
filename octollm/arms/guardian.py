"""The Guardian arm: PII, secrets and prompt-injection screening with redaction.

Input ``{text?, check_types, redact, style, block_on_high_risk, injection_mode}``. With no
``text`` it screens the outputs of the steps it depends on (a post-filter): every string in
them is scanned where it stands (issues carry its ``path``, offsets are within that string)
and ``sanitized_outputs`` mirrors the dependency outputs with the findings redacted.

The arm reports; it does not raise for risky content. ``blocked`` tells the caller to stop.
When the API's edge flagged the task (``ArmContext.screening``), the output carries
``edge_flag`` and a warning, so the flag reaches whoever reads the guardian's verdict.
The detection logic lives in :mod:`octollm.arms.safety` and is usable without the arm.
"""

from __future__ import annotations

import json
import time
from typing import Any

from octollm.arms.base import ArmContext, ArmResult
from octollm.arms.safety.finding import Finding, resolve_overlaps
from octollm.arms.safety.redaction import Style, apply
from octollm.arms.safety.screening import (
    SafetyResult,
    find,
    normalise_checks,
    summarise,
)
from octollm.arms.safety.secrets import keyed_secret
from octollm.contracts.arm_io import GuardianInput, GuardianOutput

#: Integers this long may be card, phone or account numbers written without quotes.
_NUMBER_DIGITS = 7


class GuardianArm:
    """Screens text (or its dependencies' outputs) for PII, secrets and prompt injection."""

    name = "guardian"
    capabilities = frozenset(
        {
            "pii_detection",
            "secret_detection",
            "content_filtering",
            "input_sanitization",
            "output_redaction",
        }
    )

    input_model = GuardianInput
    output_model = GuardianOutput

    def run(self, input: GuardianInput, ctx: ArmContext) -> ArmResult[GuardianOutput]:
        request = input
        began = time.perf_counter()
        checks = normalise_checks(request.check_types)
        style: Style | None = request.style if request.redact else None
        if request.text is not None:
            result = _scan_text(request, checks, style, began)
            output = result.to_output()
        else:
            result, output = _scan_dependencies(request, checks, style, ctx, began)
        warnings = [f"blocked: {result.block_reason}"] if result.blocked else []
        if ctx.screening.get("flagged"):
            # the edge let this task through with a flag: say so beside our own verdict
            kinds = list(ctx.screening.get("kinds") or [])
            output["edge_flag"] = {"policy": ctx.screening.get("policy"), "kinds": kinds}
            warnings.append(f"input flagged at the edge: {', '.join(kinds) or 'unspecified'}")
        top = [f.confidence for f in result.findings if f.risk == result.risk]
        return ArmResult(
            output=GuardianOutput.model_validate(output),
            confidence=min(top, default=1.0),
            warnings=warnings,
        )


def _scan_text(
    request: GuardianInput, checks: tuple[str, ...], style: Style | None, began: float
) -> SafetyResult:
    text = request.text or ""
    findings = find(text, checks, injection_mode=request.injection_mode)
    return summarise(
        findings,
        checks,
        sanitized=apply(text, findings, style) if style else None,
        block_on_high_risk=request.block_on_high_risk,
        began=began,
    )


class _Walker:
    """Scans every string leaf of a JSON-like structure and rebuilds it redacted."""

    def __init__(self, request: GuardianInput, checks: tuple[str, ...], ctx: ArmContext):
        self.request = request
        self.checks = checks
        self.ctx = ctx
        self.found: list[tuple[str, Finding]] = []
        self.redacted_checks = [c for c in checks if c != "injection"]

    def walk(self, value: Any, path: str, key: str) -> Any:
        if isinstance(value, dict):
            return {
                k: self.walk(v, f"{path}.{k}" if path else str(k), str(k)) for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.walk(v, f"{path}[{i}]", key) for i, v in enumerate(value)]
        if isinstance(value, str):
            return self.leaf(value, path, key)
        if (
            isinstance(value, int)
            and not isinstance(value, bool)
            and len(str(abs(value))) >= _NUMBER_DIGITS
        ):
            redacted = self.leaf(str(value), path, key, checks=tuple(self.redacted_checks))
            return value if redacted == str(value) else redacted
        return value

    def leaf(self, text: str, path: str, key: str, checks: tuple[str, ...] | None = None) -> str:
        self.ctx.ensure_time()
        findings = find(text, checks or self.checks, injection_mode=self.request.injection_mode)
        if "secrets" in self.checks and (keyed := keyed_secret(key, text)) is not None:
            redactable = resolve_overlaps([*(f for f in findings if f.kind != "injection"), keyed])
            findings = [*redactable, *(f for f in findings if f.kind == "injection")]
        self.found.extend((path, f) for f in findings)
        if not self.request.redact:
            return text
        return apply(text, findings, self.request.style)


def _scan_dependencies(
    request: GuardianInput,
    checks: tuple[str, ...],
    style: Style | None,
    ctx: ArmContext,
    began: float,
) -> tuple[SafetyResult, dict[str, Any]]:
    walker = _Walker(request, checks, ctx)
    sanitized = walker.walk(ctx.dependencies, "", "")
    findings = [f for _, f in walker.found]
    text = json.dumps(sanitized, ensure_ascii=False, sort_keys=True, default=str) if style else None
    result = summarise(
        findings,
        checks,
        sanitized=text,
        block_on_high_risk=request.block_on_high_risk,
        began=began,
    )
    output = result.to_output()
    for issue, (path, _) in zip(output["issues"], walker.found, strict=True):
        issue["path"] = path
    output["sanitized_outputs"] = sanitized if style else None
    output["metadata"]["scanned"] = "dependencies"
    return result, output
