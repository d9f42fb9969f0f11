"""Turning detected spans into safe text: type tokens or structure-preserving masks.

Two styles:

* ``token`` replaces a span by its type token (``[EMAIL-REDACTED]``, ``[CC-REDACTED]``...);
* ``structure`` keeps the shape a reader needs (``XXX-XX-1234``, ``XXXX-XXXX-XXXX-1111``,
  ``j***@example.com``). Secrets have no safe shape: they always get their token.

``mask`` is also how messages show a finding without its raw value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from octollm.arms.safety.finding import Finding
from octollm.contracts.arm_io import RedactionStyle

Style = RedactionStyle

TOKENS: dict[str, str] = {
    "email": "[EMAIL-REDACTED]",
    "phone": "[PHONE-REDACTED]",
    "ssn": "[SSN-REDACTED]",
    "credit_card": "[CC-REDACTED]",
    "iban": "[IBAN-REDACTED]",
    "ipv4": "[IP-REDACTED]",
    "ipv6": "[IP-REDACTED]",
    "openai_key": "[OPENAI-KEY-REDACTED]",
    "github_token": "[GITHUB-TOKEN-REDACTED]",
    "aws_access_key": "[AWS-KEY-REDACTED]",
    "aws_secret_key": "[AWS-KEY-REDACTED]",
    "slack_token": "[API-KEY-REDACTED]",
    "stripe_key": "[API-KEY-REDACTED]",
    "google_api_key": "[API-KEY-REDACTED]",
    "jwt": "[JWT-REDACTED]",
    "url_password": "[PASSWORD-REDACTED]",
    "password_assignment": "[PASSWORD-REDACTED]",
    "secret_assignment": "[API-KEY-REDACTED]",
    "private_key": "[PRIVATE-KEY-REDACTED]",
}
DEFAULT_TOKEN = "[REDACTED]"  # noqa: S105 - a redaction marker, not a credential

_DIGIT = re.compile(r"\d")
_HEX = re.compile(r"[0-9A-Fa-f]")


def token_for(subtype: str) -> str:
    return TOKENS.get(subtype, DEFAULT_TOKEN)


def _keep_last(value: str, keep: int = 4, *, skip: int = 0, alnum: bool = False) -> str:
    """Replace digits (or letters and digits) by ``X`` except the first ``skip`` and the last
    ``keep``, leaving separators in place."""
    sensitive = [ch.isalnum() if alnum else ch.isdigit() for ch in value]
    total = sum(sensitive)
    seen = 0
    out = []
    for ch, hide in zip(value, sensitive, strict=True):
        if hide:
            seen += 1
            out.append(ch if seen <= skip or seen > total - keep else "X")
        else:
            out.append(ch)
    return "".join(out)


def mask(subtype: str, value: str) -> str:
    """A rendering of ``value`` that keeps its shape but not its identifying content."""
    if subtype == "email":
        local, _, domain = value.partition("@")
        return f"{local[:1]}***@{domain}"
    if subtype in {"ssn", "credit_card", "phone"}:
        return _keep_last(value)
    if subtype == "iban":
        return _keep_last(value, skip=2, alnum=True)  # the country code stays readable
    if subtype == "ipv4":
        return _DIGIT.sub("X", value)
    if subtype == "ipv6":
        return _HEX.sub("x", value)
    return secret_mask(subtype, value)


#: Public prefixes that identify a provider without revealing the secret.
_SECRET_PREFIXES = (
    "github_pat_", "sk-proj-", "sk_live_", "sk_test_", "rk_live_", "xoxb-", "xoxp-", "xoxa-",
    "xoxs-", "ghp_", "gho_", "ghs_", "ghu_", "ghr_", "AKIA", "ASIA", "AIza", "sk-", "eyJ",
)  # fmt: skip


def secret_mask(subtype: str, value: str) -> str:
    """Show at most a provider's public prefix, never any secret character."""
    for prefix in _SECRET_PREFIXES:
        if value.startswith(prefix):
            return f"{prefix}****"
    return "****"


def apply(text: str, findings: Iterable[Finding], style: Style = "token") -> str:
    """Replace each (non-overlapping) finding's span; injection findings are left as text."""
    spans = sorted(
        (f for f in findings if f.kind != "injection"), key=lambda f: f.start, reverse=True
    )
    out = text
    last_start = len(text) + 1
    for finding in spans:
        if finding.end > last_start:  # overlapping input: keep the first replacement
            continue
        value = out[finding.start : finding.end]
        if style == "structure" and finding.kind == "pii":
            replacement = mask(finding.subtype, value)
        else:
            replacement = token_for(finding.subtype)
        out = out[: finding.start] + replacement + out[finding.end :]
        last_start = finding.start
    return out
