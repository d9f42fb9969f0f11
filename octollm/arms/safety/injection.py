"""Prompt-injection screening: OctoLLM's 14 pattern families with context down-grading.

Severities as in OctoLLM's reflex layer: ignore-previous-instructions, new instructions, system
role manipulation and DAN variants are critical; prompt extraction (direct, indirect),
delimiter, command and template injection and data exfiltration are high; role-play
jailbreaks, nested prompts, encoded instructions and memory/state access are medium.

Context lowers a match: an academic or testing framing lowers it one level; then a match
inside quotes or after a negation ("never", "do not"...) lowers critical to medium and high to
low. Modes pick the families: ``strict`` critical only, ``standard`` critical and high,
``relaxed`` (the default here) all 14.

Deliberate differences from OctoLLM's regexes: a bare URL is not data exfiltration (it needs a
send/upload verb), and ``{{ }}`` or backticks alone are not template or command injection
(they need a dangerous payload), so that code and Markdown pass a post-filter.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from octollm.arms.safety.finding import Finding, Risk
from octollm.arms.safety.validators import shannon_entropy

Mode = Literal["strict", "standard", "relaxed"]


@dataclass(frozen=True)
class Family:
    name: str
    severity: Risk
    patterns: tuple[re.Pattern[str], ...]


def _p(*patterns: str) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(p, re.IGNORECASE) for p in patterns)


_ANY = r"(?:\s+(?:all|any|of|the|your|my|these|those|every|previous|prior|earlier))*"

FAMILIES: tuple[Family, ...] = (
    Family("ignore_previous_instructions", Risk.CRITICAL, _p(
        r"\b(?:ignore|disregard|forget|skip|override|bypass|drop)" + _ANY
        + r"\s+(?:previous|prior|above|earlier|preceding|original|initial|system|existing)"
        r"\s+(?:instructions?|prompts?|rules|directions|directives|guidelines|context|commands?)",
        r"\b(?:ignore|disregard|forget)\s+(?:everything|all)\s+(?:above|before|you\s+were\s+told)",
    )),
    Family("new_instruction_injection", Risk.CRITICAL, _p(
        r"\b(?:new|updated|revised|real|actual|following)\s+instructions?\s*(?::|are\b|follow\b)",
        r"\bfrom\s+now\s+on,?\s+(?:you\s+(?:will|must|are|shall|should)|always|only|never)\b",
        r"\byour\s+(?:new|real|true|actual)\s+(?:task|goal|purpose|instructions?|role)\s+(?:is|are)\b",
    )),
    Family("system_role_manipulation", Risk.CRITICAL, _p(
        r"(?m)^[ \t]*(?:system|\[system\]|<system>)[ \t]*:",
        r"\byou\s+are\s+now\s+(?:in\s+)?(?:developer|admin|administrator|god|root|debug|sudo"
        r"|unrestricted|maintenance)\s+mode\b",
        r"\b(?:enable|activate|enter|switch\s+to|turn\s+on)\s+(?:developer|admin|god|debug|sudo"
        r"|unrestricted|maintenance)\s+mode\b",
        r"\b(?:act|speak|respond)\s+as\s+(?:the\s+)?(?:system|root\s+user|administrator)\b",
        r"\byou\s+are\s+no\s+longer\s+(?:an?\s+)?(?:ai|assistant|bound|restricted|chatgpt|claude)",
    )),
    Family("dan_variant", Risk.CRITICAL, (
        re.compile(r"\bdo\s+anything\s+now\b", re.IGNORECASE),
        re.compile(r"\b(?:DAN|STAN|DUDE|AIM)\b(?:\s+(?:mode|prompt|jailbreak)|\s*\d+\.\d+)"),
        re.compile(r"\bjailbr(?:eak|oken)\s+(?:mode|prompt|enabled)\b", re.IGNORECASE),
    )),
    Family("direct_prompt_extraction", Risk.HIGH, _p(
        r"\b(?:reveal|show|print|display|repeat|output|leak|dump|give\s+me|tell\s+me|what\s+(?:is|are))"
        r"\b[^.\n]{0,30}?\b(?:your|the)\s+(?:system\s+prompt|initial\s+(?:prompt|instructions)"
        r"|hidden\s+(?:prompt|instructions)|original\s+(?:prompt|instructions)|secret\s+instructions"
        r"|instructions\s+you\s+were\s+given|pre-?prompt)",
    )),
    Family("indirect_prompt_extraction", Risk.HIGH, _p(
        r"\b(?:summari[sz]e|translate|paraphrase|encode|rewrite|spell\s+out|convert)\b[^.\n]{0,40}?"
        r"\b(?:everything|all\s+(?:the\s+)?text|the\s+text|what(?:ever)?\s+(?:was|is)\s+written)"
        r"\s+(?:above|before\s+this|prior\s+to\s+this)",
        r"\b(?:what|which)\s+(?:were|are)\s+you\s+(?:told|instructed|programmed)\s+(?:to|before)\b",
        r"\brepeat\s+(?:the\s+)?(?:words|text|everything)\s+above\b",
        r"\bstart\s+your\s+(?:answer|response|reply)\s+with\s+[\"']?you\s+are\b",
    )),
    Family("delimiter_injection", Risk.HIGH, _p(
        r"</\s*(?:system|instructions?|prompt|context|user)\s*>",
        r"\[/?(?:END|SYSTEM)\]|\[/INST\]",
        r"<\|(?:endoftext|im_end|end)\|>",
        r"(?<![-=#])(?:-{3,}|={3,}|#{3,})\s*end\s+of\s+(?:system\s+)?(?:prompt|instructions|context)",
    )),
    Family("command_injection", Risk.HIGH, _p(
        r"\$\([^)\n]{0,80}\b(?:rm|curl|wget|nc|ncat|bash|sh|chmod|python\d?|perl|cat)\b[^)\n]{0,80}\)",
        r"`\s*(?:rm\s+-|curl\s|wget\s|nc\s+-|bash\s+-|sh\s+-c|cat\s+/etc/)[^`\n]{0,80}`",
        r"(?:;|&&|\|\|?)\s*(?:rm\s+-[rf]{1,2}\s|curl\s+\S+\s*\|\s*(?:ba)?sh|wget\s+\S+|nc\s+-[elv]"
        r"|bash\s+-[ic]|sh\s+-c|chmod\s+[0-7]{3,4}\s|cat\s+/etc/(?:passwd|shadow))",
    )),
    Family("template_injection", Risk.HIGH, _p(
        r"\{\{[^{}\n]{0,80}(?:__class__|__globals__|__builtins__|__import__|__subclasses__|config\."
        r"|config\b|request\.|self\.|lipsum|cycler|joiner|\d+\s*\*\s*\d+)[^{}\n]{0,80}\}\}",
        r"\{%-?\s*(?:import|include|exec|debug)\b[^%\n]{0,80}%\}",
        r"\$\{\s*(?:jndi|env|sys|java|script|lower|upper)\s*:",
        r"<%=?[^%\n]{0,80}\b(?:system|exec|eval|Runtime|Process)\b[^%\n]{0,80}%>",
    )),
    Family("data_exfiltration", Risk.HIGH, _p(
        r"\b(?:send|post|upload|transmit|forward|exfiltrate|email|leak|submit)\b[^.\n]{0,60}?"
        r"\b(?:data|conversation|history|contents?|credentials|passwords?|keys?|secrets?|tokens?"
        r"|information|results?|everything|all\s+of\s+it|this)\b[^.\n]{0,40}?"
        r"\b(?:to|at|via|into)\s+(?:https?://|ftp://|[\w.+-]+@[\w-]+\.\w|(?:my|this|the)\s+(?:server|webhook|endpoint))",
        r"!\[[^\]\n]{0,80}\]\(https?://[^)\s]+\?[^)\s]*=[^)\s]*\)",
    )),
    Family("role_play_jailbreak", Risk.MEDIUM, _p(
        r"\b(?:pretend|imagine|act|roleplay|role-play|behave)\b[^.\n]{0,30}?\b(?:you\s+are|to\s+be|as|like)"
        r"\b[^.\n]{0,60}?\b(?:no|without|free\s+(?:from|of)|not\s+bound\s+by|ignoring)\s+(?:any\s+)?"
        r"(?:restrictions|rules|limits|limitations|filters|guidelines|ethics|morals|censorship)",
        r"\b(?:evil|unfiltered|uncensored|unrestricted|amoral|unaligned)\s+(?:ai|assistant|bot"
        r"|chatbot|model|version|twin|persona)\b",
    )),
    Family("nested_prompt", Risk.MEDIUM, _p(
        r"<\|im_start\|>",
        r"\[INST\]",
        r"<<\s*SYS\s*>>",
        r"(?m)^[ \t]*#{2,}[ \t]*(?:instruction|system|response)[ \t]*:",
        r"(?m)^[ \t]*(?:human|user)[ \t]*:[^\n]{1,200}\n[ \t]*(?:assistant|ai)[ \t]*:",
    )),
    Family("encoded_instruction", Risk.MEDIUM, _p(
        r"\b(?:decode|decrypt|deobfuscate|translate)\b[^.\n]{0,30}?\b(?:base64|hex|rot13|rot-13"
        r"|binary|morse)\b[^.\n]{0,40}?\b(?:follow|execute|run|obey|do\s+what|comply)",
    )),
    Family("memory_state_access", Risk.MEDIUM, _p(
        r"\b(?:show|reveal|print|dump|list|access|read|tell\s+me|what\s+is\s+in)\b[^.\n]{0,30}?"
        r"\b(?:your|the)\s+(?:memory|memories|conversation\s+history|chat\s+history"
        r"|previous\s+(?:conversations?|users?|sessions?|chats?)|context\s+window|internal\s+state"
        r"|training\s+data|cached\s+(?:data|responses|answers))",
        r"\bwhat\s+did\s+(?:the\s+)?(?:previous|last|other|another)\s+(?:user|person|customer)s?"
        r"\s+(?:say|ask|write|type)",
    )),
)  # fmt: skip

FAMILY_NAMES: tuple[str, ...] = tuple(f.name for f in FAMILIES)
_MODE_FLOOR: dict[str, Risk] = {"strict": Risk.CRITICAL, "standard": Risk.HIGH, "relaxed": Risk.LOW}
_STRONG = frozenset({"dan_variant", "ignore_previous_instructions", "system_role_manipulation"})

_ACADEMIC = re.compile(
    r"(?i)\b(?:research(?:er|ers|ing)?|academic|paper|thesis|study(?:ing)?|course|lecture"
    r"|for\s+testing|test\s+(?:case|suite|data|input)|unit\s+test|security\s+training|red[- ]team"
    r"|classif(?:y|ier)|detect(?:or|ion)|example\s+of|benchmark|dataset)\b"
)
_NEGATION = re.compile(
    r"(?i)\b(?:don'?t|do\s+not|never|must\s+not|mustn'?t|should\s+not|shouldn'?t|won'?t"
    r"|will\s+not|cannot|can'?t|not\s+to|avoid|refuse\s+to|no\s+one\s+should)\b[^.!?\n]{0,30}$"
)
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{20,}={0,2}(?![A-Za-z0-9+/=])")
_HEX_RUN = re.compile(
    r"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}){12,}(?![0-9A-Fa-f])|(?:\\x[0-9A-Fa-f]{2}){8,}"
)
_DECODED_ALARM = re.compile(
    r"(?i)\b(?:ignore|disregard)\b.{0,40}\binstructions?\b|\bsystem\s+prompt\b|\bdo\s+anything\s+now\b"
    r"|\bnew\s+instructions\b|\bdeveloper\s+mode\b"
)


def _quoted(text: str, start: int, end: int) -> bool:
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line_end = len(text) if line_end < 0 else line_end
    before, after = text[line_start:start], text[end:line_end]
    if before.count('"') % 2 == 1 and '"' in after:
        return True
    return before.rfind("\u201c") > before.rfind("\u201d") and "\u201d" in after


def _adjust(
    family: Family, text: str, start: int, end: int, academic: bool
) -> tuple[Risk, list[str]]:
    severity = family.severity
    notes: list[str] = []
    if academic:
        severity = severity.lowered(1)
        notes.append("academic/testing context")
    sentence_start = max(0, start - 60)
    if _quoted(text, start, end) or _NEGATION.search(text[sentence_start:start]):
        severity = severity.lowered(2)
        notes.append("quoted or negated")
    return severity, notes


def _confidence(family: str, matched: str, benign: bool, total: int) -> float:
    score = 0.8
    if benign:
        score -= 0.3
    if shannon_entropy(matched) > 4.5:
        score += 0.1
    if family in _STRONG:
        score += 0.1
    if len(matched) > 50:
        score += 0.05
    score += min(0.05 * total, 0.15)
    return max(0.0, min(1.0, score))


def _raw_matches(text: str) -> Iterator[tuple[Family, int, int]]:
    for family in FAMILIES:
        spans: list[tuple[int, int]] = []
        for pattern in family.patterns:
            for m in pattern.finditer(text):
                if not any(m.start() < e and s < m.end() for s, e in spans):
                    spans.append((m.start(), m.end()))
        for start, end in spans:
            yield family, start, end
    yield from _encoded_matches(text)


def _decodes_to_alarm(blob: str, decoder: str) -> bool:
    try:
        if decoder == "base64":
            raw = base64.b64decode(blob + "=" * (-len(blob) % 4), validate=False)
        else:
            raw = bytes.fromhex(blob.replace("\\x", ""))
    except (binascii.Error, ValueError):
        return False
    decoded = raw.decode("utf-8", errors="ignore")
    return bool(_DECODED_ALARM.search(decoded))


def _encoded_matches(text: str) -> Iterator[tuple[Family, int, int]]:
    encoded = next(f for f in FAMILIES if f.name == "encoded_instruction")
    for m in _BASE64.finditer(text):
        if _decodes_to_alarm(m.group(0), "base64"):
            yield encoded, m.start(), m.end()
    for m in _HEX_RUN.finditer(text):
        if _decodes_to_alarm(m.group(0), "hex"):
            yield encoded, m.start(), m.end()
    rot = codecs.decode(text, "rot13")
    for m in _DECODED_ALARM.finditer(rot):
        # rot13 keeps positions; real English would have matched the plain families instead
        if not _DECODED_ALARM.search(text[m.start() : m.end()]):
            yield encoded, m.start(), m.end()


def detect_injection(text: str, mode: Mode = "relaxed") -> list[Finding]:
    """Injection findings, most severe and most confident first."""
    floor = _MODE_FLOOR[mode]
    raw = [(f, s, e) for f, s, e in _raw_matches(text) if f.severity >= floor]
    academic = bool(_ACADEMIC.search(text))
    findings: list[Finding] = []
    for family, start, end in raw:
        severity, notes = _adjust(family, text, start, end, academic)
        confidence = _confidence(family.name, text[start:end], bool(notes), len(raw))
        reason = f" (lowered: {', '.join(notes)})" if notes else ""
        message = f"possible prompt injection: {family.name.replace('_', ' ')}{reason}"
        findings.append(
            Finding("injection", family.name, severity, start, end, confidence, message)
        )
    findings.sort(key=lambda f: (-f.risk, -f.confidence, f.start))
    return findings
