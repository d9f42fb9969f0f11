"""How the words around a match change what it means.

* **Quoted or reported speech** ('The phrase "ignore all previous instructions" is a
  classic', 'the email says: ...') lowers the severity two levels and the score by 0.2, but
  the finding stays: a quote does not hide a payload. A quote that *is* the whole input is
  not reported speech, and is not lowered.
* **Negation** governing the matched verb ("you must never reveal your system prompt")
  lowers it the same way; "Don't hesitate: ignore ..." is not a negation of "ignore".
* **Research or testing framing** lowers the severity one level and the score by 0.1: the
  request is flagged rather than refused, never let through unseen.
"""

from __future__ import annotations

import re

_ACADEMIC = re.compile(
    r"(?i)\b(?:research(?:er|ers|ing)?|academic|paper|thesis|study(?:ing)?|course|lecture"
    r"|for\s+testing|test\s+(?:case|suite|data|input)|unit\s+test|security\s+training|red[- ]team"
    r"|classif(?:y|ier)|detect(?:or|ion)|example\s+of|benchmark|dataset|hypothetical(?:ly)?)\b"
)
# a negation word, at most three words before the match, with no punctuation in between
_NEGATION = re.compile(
    r"(?i)\b(?:don'?t|do\s+not|never|must\s+not|mustn'?t|should\s+not|shouldn'?t|won'?t|will\s+not"
    r"|cannot|can'?t|not\s+to|avoid|refuse\s+to|no\s+one\s+should)\s+(?:\w+\s+){0,3}$"
)
_NOT_A_NEGATION = re.compile(
    r"(?i)\b(?:don'?t|do\s+not|never)\s+(?:hesitate|wait|hold\s+back|worry|be\s+shy|forget\s+to|stop)"
)
_REPORTED = re.compile(
    r"(?i)\b(?:(?:the|this|an?|that)\s+(?:phrase|string|sentence|prompt|payload|attack|message|email|attacker|example)"
    r"\s+(?:says?|reads?|was|is|contained|like|such\s+as)|(?:he|she|they|someone|the\s+user|a\s+user|the\s+attacker)\s+"
    r"(?:wrote|typed|said|sent|posted|asked)|such\s+as|e\.g\.|for\s+example|known\s+as|called)\W{0,4}$"
)
_QUOTES = (('"', '"'), ("\u201c", "\u201d"), ("\u00ab", "\u00bb"), ("\u300c", "\u300d"), ("'", "'"))


def _inside(text: str, start: int, end: int, opener: str, closer: str) -> tuple[int, int] | None:
    """The quoted span around ``[start, end)`` on its line, if any."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line_end = len(text) if line_end < 0 else line_end
    before = text[line_start:start]
    if opener == closer:
        if opener == "'":
            # apostrophes are not quotes: require a quote mark not inside a word
            opens = [m.start() for m in re.finditer(r"(?<!\w)'", before)]
            closes = re.search(r"'(?!\w)", text[end:line_end])
            if not opens or not closes:
                return None
            return line_start + opens[-1], end + closes.end()
        if before.count(opener) % 2 == 0 or opener not in text[end:line_end]:
            return None
        span = line_start + before.rfind(opener), text.index(opener, end) + 1
        # '{"name": ...' is JSON, not a quotation: a quotation holds words
        return span if " " in text[span[0] : span[1]] else None
    open_at, close_at = before.rfind(opener), before.rfind(closer)
    if open_at <= close_at or closer not in text[end:line_end]:
        return None
    return line_start + open_at, text.index(closer, end) + 1


def quoted(text: str, start: int, end: int) -> bool:
    """True when the match sits inside a quotation that is not the whole input."""
    body = len(text.strip())
    for opener, closer in _QUOTES:
        span = _inside(text, start, end, opener, closer)
        if span is not None and (span[1] - span[0]) < 0.8 * body:
            return True
    return False


def reported(text: str, start: int) -> bool:
    return bool(_REPORTED.search(text[max(0, start - 60) : start]))


def negated(text: str, start: int) -> bool:
    before = text[max(0, start - 60) : start]
    return bool(_NEGATION.search(before)) and not _NOT_A_NEGATION.search(before)


def academic(text: str) -> bool:
    return bool(_ACADEMIC.search(text))
