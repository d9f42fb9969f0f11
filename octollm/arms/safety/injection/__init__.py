"""Prompt-injection screening that normalises before it matches.

The pipeline, one module each::

    text --normalise--> folded text + where hidden characters were
         --rules, phrases--> matches (rule, family, span, base score)
         --context--> lowered for quotes, reported speech, negation, research framing
         --decode--> base64 / hex / URL / ROT13 runs rescanned (depth 2)
         --> Findings, each naming its rule, span (in the original text) and score

Severity is the family's (or the rule's) level after context; the score (``confidence``) is
how sure the rule is. A policy decides what to do with both: by default only critical
findings scored >= 0.8 are refused and the rest are flagged (``octollm.arms.safety.policy``).
Modes pick families by their base severity: ``strict`` critical only, ``standard`` critical
and high, ``relaxed`` (the default here) all 14.
"""

from __future__ import annotations

from dataclasses import dataclass

from octollm.arms.safety.finding import Finding, Risk
from octollm.arms.safety.injection import classifier, context
from octollm.arms.safety.injection.decode import decoded_runs
from octollm.arms.safety.injection.generic import GENERIC, GENERIC_INTL
from octollm.arms.safety.injection.normalise import Normalised, deleet, normalise
from octollm.arms.safety.injection.phrases import PHRASES
from octollm.arms.safety.injection.rule import Rule
from octollm.arms.safety.injection.rules import RULES
from octollm.contracts.arm_io import InjectionMode

Mode = InjectionMode

FAMILY_NAMES: tuple[str, ...] = (
    "ignore_previous_instructions",
    "new_instruction_injection",
    "system_role_manipulation",
    "dan_variant",
    "direct_prompt_extraction",
    "indirect_prompt_extraction",
    "delimiter_injection",
    "command_injection",
    "template_injection",
    "data_exfiltration",
    "role_play_jailbreak",
    "nested_prompt",
    "encoded_instruction",
    "memory_state_access",
)
ALL_RULES: tuple[Rule, ...] = RULES + PHRASES + GENERIC + GENERIC_INTL
_MODE_FLOOR: dict[str, Risk] = {"strict": Risk.CRITICAL, "standard": Risk.HIGH, "relaxed": Risk.LOW}
_MAX_DEPTH = 2
#: Invisible characters that may carry text; zero-width joiners in emoji carry none.
_SMUGGLING = frozenset({"tag", "bidi"})
#: Subtype of the learned scorer's findings (not a rule family).
LEARNED = "learned"


@dataclass(frozen=True)
class _Match:
    rule: Rule
    start: int  # in normalised text
    end: int


def _matches(text: str, floor: Risk) -> list[_Match]:
    """Rule matches, one per overlapping span and family (the best-scored rule wins)."""
    found: list[_Match] = []
    lowered = text.lower()
    for rule in ALL_RULES:
        if rule.severity < floor or not rule.may_match(lowered):
            continue
        for m in rule.pattern.finditer(text):
            if m.end() == m.start() or rule.benign_at(text, m.start(), m.end()):
                continue
            clash = next(
                (
                    i
                    for i, f in enumerate(found)
                    if f.rule.family == rule.family and f.start < m.end() and m.start() < f.end
                ),
                None,
            )
            candidate = _Match(rule, m.start(), m.end())
            if clash is None:
                found.append(candidate)
            elif rule.score > found[clash].rule.score:
                found[clash] = candidate
    return found


def _soften(severity: Risk, steps: int) -> Risk:
    """Framing and quoting lower a finding but never below medium: a quote or a research
    pretext must not make a payload invisible."""
    return max(severity.lowered(steps), min(severity, Risk.MEDIUM))


def _explain(n: Normalised, match: _Match, framing: bool) -> tuple[Risk, float, list[str]]:
    severity, score, notes = match.rule.severity, match.rule.score, []
    text = n.text
    if framing:
        severity, score = _soften(severity, 1), score - 0.1
        notes.append("research/testing framing")
    if context.quoted(text, match.start, match.end) or context.reported(text, match.start):
        severity, score = _soften(severity, 2), score - 0.2
        notes.append("quoted or reported")
    elif context.negated(text, match.start):
        severity, score = severity.lowered(2), score - 0.2
        notes.append("negated")
    start, end = n.span(match.start, match.end)
    hidden = sorted({h.kind for h in n.hidden if h.start < end and start < h.end})
    if hidden:
        score += 0.1
        notes.append(f"hidden by {'/'.join(hidden)}")
    return severity, score, notes


def _scan(text: str, floor: Risk, depth: int) -> list[Finding]:
    n = normalise(text)
    framing = context.academic(n.text)
    findings: list[Finding] = []
    matches = _matches(n.text, floor)
    matches += [
        m for m in _leet_matches(n.text, floor)
        if not any(f.start < m.end and m.start < f.end for f in matches)
    ]  # fmt: skip
    for match in matches:
        severity, score, notes = _explain(n, match, framing)
        start, end = n.span(match.start, match.end)
        family = match.rule.family
        reason = f" ({', '.join(notes)})" if notes else ""
        message = f"possible prompt injection: {family.replace('_', ' ')}{reason}"
        findings.append(
            Finding("injection", family, severity, start, end, score, message, match.rule.name)
        )
    if depth < _MAX_DEPTH:
        findings += _decoded(n, floor, depth, framing)
    findings += _smuggled(n, findings)
    return findings + _learned(n, floor)


def _learned(n: Normalised, floor: Risk) -> list[Finding]:
    """The learned scorer's view of the whole (normalised) text: medium at most, so under
    the default policy it flags and never refuses on its own."""
    if floor > Risk.MEDIUM:
        return []
    score = classifier.score(n.text)
    if score < classifier.THRESHOLD:
        return []
    message = f"possible prompt injection: learned classifier score {score:.2f}"
    return [
        Finding(
            "injection", LEARNED, Risk.MEDIUM, 0, len(n.source), score, message, classifier.RULE
        )
    ]


def _leet_matches(text: str, floor: Risk) -> list[_Match]:
    """Matches in the leetspeak reading ("1gn0r3 4ll"), rescanning only the lines it changes."""
    leet = deleet(text)
    if leet == text:
        return []
    out: list[_Match] = []
    start = 0
    for line in leet.splitlines(keepends=True):
        end = start + len(line)
        if line != text[start:end]:
            out += [_Match(m.rule, m.start + start, m.end + start) for m in _matches(line, floor)]
        start = end
    return out


def _decoded(n: Normalised, floor: Risk, depth: int, framing: bool) -> list[Finding]:
    out: list[Finding] = []
    for run in decoded_runs(n.text):
        inner = _scan(run.text, floor, depth + 1)
        if not inner:
            continue
        best = max(inner, key=lambda f: (f.risk, f.confidence))
        severity = best.risk.lowered(1) if framing else best.risk
        start, end = n.span(run.start, run.end)
        message = (
            f"possible prompt injection: {run.encoding}-encoded {best.subtype.replace('_', ' ')}"
        )
        out.append(
            Finding(
                "injection",
                "encoded_instruction",
                severity,
                start,
                end,
                best.confidence + 0.05,
                message,
                f"{run.encoding}>{best.rule}",
            )
        )
    return out


def _smuggled(n: Normalised, found: list[Finding]) -> list[Finding]:
    """Invisible text that matched nothing still deserves a flag."""
    out: list[Finding] = []
    for h in n.hidden:
        if h.kind not in _SMUGGLING or any(f.start < h.end and h.start < f.end for f in found):
            continue
        if h.kind == "tag" and h.end - h.start < 8:
            continue  # subdivision flags (England, Scotland) are tag sequences too
        if h.kind == "bidi" and _rtl_script(n.source):
            continue
        out.append(
            Finding(
                "injection",
                "encoded_instruction",
                Risk.MEDIUM,
                h.start,
                h.end,
                0.6,
                f"possible prompt injection: invisible {h.kind} characters",
                f"unicode.{h.kind}",
            )
        )
    return out


def _rtl_script(text: str) -> bool:
    return any("\u0590" <= ch <= "\u08ff" for ch in text)


def detect_injection(text: str, mode: Mode = "relaxed") -> list[Finding]:
    """Injection findings, most severe and most confident first."""
    findings = _scan(text, _MODE_FLOOR[mode], 0)
    # Agreement between rule families raises confidence; the learned score is not a family.
    boost = min(0.05 * (len({f.subtype for f in findings if f.subtype != LEARNED}) - 1), 0.1)
    findings = [
        Finding(
            f.kind,
            f.subtype,
            f.risk,
            f.start,
            f.end,
            max(0.0, min(1.0, f.confidence + max(boost, 0.0))),
            f.message,
            f.rule,
        )
        for f in findings
    ]
    findings.sort(key=lambda f: (-f.risk, -f.confidence, f.start))
    return findings


__all__ = ["FAMILY_NAMES", "LEARNED", "Mode", "detect_injection"]
