"""Safety screening as a library: PII, secrets and prompt injection, with redaction.

Used by the Guardian arm, by the API's reflex edge and as a pre/post filter::

    from octollm.arms.safety import scan, redact
    result = scan(text, checks=("pii", "injection"))
    if result.blocked: ...
    clean = redact(text, style="structure")
"""

from octollm.arms.safety.finding import Finding, Risk
from octollm.arms.safety.injection import FAMILY_NAMES
from octollm.arms.safety.screening import CHECKS, SafetyResult, find, redact, scan

__all__ = ["CHECKS", "FAMILY_NAMES", "Finding", "Risk", "SafetyResult", "find", "redact", "scan"]
