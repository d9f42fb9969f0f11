"""Split a document into overlapping chunks that remember where they came from.

Paragraphs (separated by blank lines) are the natural unit: consecutive short paragraphs are
packed together up to ``max_chars``; a long paragraph is split into sentences, and sentences are
packed the same way. Where a chunk ends **inside** a paragraph, the next chunk repeats its last
sentences (up to ``overlap_chars``) so a statement cut at the boundary is whole in one of them.
A single sentence longer than ``max_chars`` is cut at whitespace, overlapping by
``overlap_chars``.

Every chunk is an exact slice of the input: ``text[start:end] == chunk.text`` (offsets count
Python characters), which is what makes citations checkable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from octollm.contracts.arm_io import DEFAULT_CHUNK_CHARS, DEFAULT_OVERLAP_CHARS

DEFAULT_MAX_CHARS = DEFAULT_CHUNK_CHARS  # all-MiniLM-L6-v2 reads ~1,000 characters

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
_SENTENCE_END = re.compile(r"(?<=[.!?])([\"')\]]*)\s+(?=[\"'(\[]?[A-Z0-9])")


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class _Unit:
    start: int
    end: int
    paragraph: int


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def paragraphs(text: str) -> list[tuple[int, int]]:
    """(start, end) of each non-empty paragraph."""
    spans: list[tuple[int, int]] = []
    cursor = 0
    for match in _PARAGRAPH_BREAK.finditer(text):
        spans.append(_trimmed(text, cursor, match.start()))
        cursor = match.end()
    spans.append(_trimmed(text, cursor, len(text)))
    return [(s, e) for s, e in spans if e > s]


def sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """(start, end) of each sentence inside ``text[start:end]``."""
    spans: list[tuple[int, int]] = []
    cursor = start
    for match in _SENTENCE_END.finditer(text, start, end):
        spans.append(_trimmed(text, cursor, match.end(1)))  # closing quotes stay
        cursor = match.end()
    spans.append(_trimmed(text, cursor, end))
    return [(s, e) for s, e in spans if e > s]


def _hard_split(text: str, start: int, end: int, max_chars: int, overlap: int) -> list[_Unit]:
    """Cut an over-long sentence at whitespace into pieces of at most ``max_chars``."""
    pieces: list[tuple[int, int]] = []
    cursor = start
    while cursor < end:
        stop = min(end, cursor + max_chars)
        if stop < end:
            space = text.rfind(" ", cursor + max_chars // 2, stop)
            stop = space if space > cursor else stop
        pieces.append(_trimmed(text, cursor, stop))
        if stop >= end:
            break
        back = text.find(" ", max(cursor + 1, stop - overlap), stop)
        cursor = back + 1 if overlap and back > cursor else stop
    return [_Unit(s, e, -1) for s, e in pieces if e > s]


def _units(text: str, max_chars: int, overlap: int) -> list[_Unit]:
    units: list[_Unit] = []
    for number, (p_start, p_end) in enumerate(paragraphs(text)):
        if p_end - p_start <= max_chars:
            units.append(_Unit(p_start, p_end, number))
            continue
        for s_start, s_end in sentences(text, p_start, p_end):
            if s_end - s_start <= max_chars:
                units.append(_Unit(s_start, s_end, number))
            else:
                units.extend(
                    _Unit(u.start, u.end, number)
                    for u in _hard_split(text, s_start, s_end, max_chars, overlap)
                )
    return units


def chunk_text(
    text: str, *, max_chars: int = DEFAULT_MAX_CHARS, overlap_chars: int = DEFAULT_OVERLAP_CHARS
) -> list[Span]:
    """Chunks of at most ``max_chars`` characters covering every non-blank part of ``text``."""
    if max_chars < 50:
        raise ValueError("max_chars must be at least 50")
    if not 0 <= overlap_chars < max_chars // 2:
        raise ValueError("overlap_chars must be between 0 and max_chars / 2")
    units = _units(text, max_chars, overlap_chars)
    spans: list[Span] = []
    i = 0
    while i < len(units):
        first = units[i]
        j = i + 1
        while j < len(units) and units[j].end - first.start <= max_chars:
            j += 1
        last = units[j - 1]
        spans.append(Span(first.start, last.end, text[first.start : last.end]))
        if j >= len(units):
            break
        # Overlap only when the cut falls inside a paragraph.
        k = j
        if overlap_chars and units[j].paragraph == last.paragraph and last.paragraph >= 0:
            while k - 1 > i and last.end - units[k - 1].start <= overlap_chars:
                k -= 1
        i = k
    return spans
