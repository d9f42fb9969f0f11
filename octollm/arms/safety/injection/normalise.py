"""Normalise text before matching, keeping a map back to the original offsets.

Attackers hide an instruction from a pattern without hiding it from a model: fullwidth or
compatibility letters (NFKC folds them), zero-width and bidi control characters (removed),
Unicode tag characters that spell ASCII invisibly (decoded back to the ASCII they carry),
Cyrillic and Greek look-alikes inside Latin words (folded), accents (dropped) and
letter-spacing (``i g n o r e`` collapsed). Every removed or decoded character is recorded,
so the smuggling itself can be reported.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\ufeff\u180e\u00ad\u034f")
BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
_TAG_FIRST, _TAG_LAST = 0xE0000, 0xE007F

#: Confusable letters (Unicode's confusables.txt, the ones seen in real evasions).
HOMOGLYPHS: dict[str, str] = {
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
    "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "ԁ": "d",
    "ԛ": "q", "ԝ": "w", "һ": "h", "ӏ": "l", "ɡ": "g", "ɩ": "i", "ո": "n", "ս": "u",
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P",
    "С": "C", "Т": "T", "Х": "X", "І": "I", "Ј": "J", "Ѕ": "S",
    "α": "a", "ο": "o", "ν": "v", "ρ": "p", "τ": "t", "ι": "i", "κ": "k", "υ": "u",
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M",
    "Ν": "N", "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
    "ɑ": "a", "ҽ": "e", "ε": "e", "ɛ": "e", "ı": "i", "ѵ": "v", "ɵ": "o", "ȷ": "j", "ԍ": "G",
}  # fmt: skip
#: A word is folded only when it also has a Latin letter: Russian or Greek words stay as they
#: are (the phrase rules read them), "Іgnоrе" becomes "Ignore".
_WORD = re.compile(r"[\w\u200b-\u200d\u2060\ufeff\u00ad]+")
_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
)
_LEET_TOKEN = re.compile(
    r"(?<![\w@$])(?=[\w@$]*[A-Za-z][\w@$]*[A-Za-z])(?=[\w@$]*[013457@$])[A-Za-z0-9@$]{3,}(?![\w@$])"
)

# Three or more single characters joined by one space each ("i g n o r e   a l l"), or
# letters joined by one dot, dash or star each ("I.G.N.O.R.E").
_SPACED = re.compile(
    r"(?<!\S)(?:\S ){2,}\S(?!\S)|(?<![^\W\d_])(?:[^\W\d_][._*\-·]){2,}[^\W\d_](?![^\W\d_])"
)

_SPACED_PAIRS = re.compile(r"(?<!\S)(?:\S ){1,}\S(?!\S)|" + _SPACED.pattern.split("|", 1)[1])


@dataclass(frozen=True)
class Hidden:
    """Characters a reader does not see: their kind, and where they were."""

    kind: str  # zero_width | bidi | tag | homoglyph | spacing
    start: int
    end: int


@dataclass
class Normalised:
    """``text`` after normalisation; ``origin[i]`` is the source offset of ``text[i]``."""

    source: str
    text: str = ""
    origin: list[int] = field(default_factory=list)
    hidden: list[Hidden] = field(default_factory=list)

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The source span of ``text[start:end]``."""
        if not self.origin:
            return 0, len(self.source)
        first = self.origin[min(start, len(self.origin) - 1)]
        last = self.origin[min(max(end - 1, start), len(self.origin) - 1)]
        return first, last + 1

    def kinds(self) -> set[str]:
        return {h.kind for h in self.hidden}


def _fold(ch: str) -> str:
    """NFKC, then drop Latin/Greek combining accents (kana voicing marks are kept)."""
    out = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", ch))
    kept = "".join(c for c in out if not 0x300 <= ord(c) <= 0x36F)
    return unicodedata.normalize("NFC", kept)


def _record(hidden: list[Hidden], kind: str, index: int) -> None:
    last = hidden[-1] if hidden else None
    if last is not None and last.kind == kind and last.end == index:
        hidden[-1] = Hidden(kind, last.start, index + 1)
    else:
        hidden.append(Hidden(kind, index, index + 1))


def deleet(text: str) -> str:
    """``text`` with leetspeak tokens read as letters ("1gn0r3" -> "ignore"), same length."""
    return _LEET_TOKEN.sub(lambda m: m.group(0).translate(_LEET), text)


def _latin_words(source: str) -> set[int]:
    """Offsets of characters inside a word that has at least one Latin letter."""
    inside: set[int] = set()
    for m in _WORD.finditer(source):
        if any("a" <= c <= "z" or "A" <= c <= "Z" for c in m.group(0)):
            inside.update(range(m.start(), m.end()))
    return inside


def normalise(source: str) -> Normalised:
    result = Normalised(source)
    chars: list[str] = []
    origin: list[int] = []
    latin = _latin_words(source) if any(ch in HOMOGLYPHS for ch in source) else set()
    for index, ch in enumerate(source):
        code = ord(ch)
        if _TAG_FIRST <= code <= _TAG_LAST:
            _record(result.hidden, "tag", index)
            if 0x20 <= code - _TAG_FIRST <= 0x7E:
                chars.append(chr(code - _TAG_FIRST))
                origin.append(index)
            continue
        if ch in ZERO_WIDTH or ch in BIDI:
            _record(result.hidden, "zero_width" if ch in ZERO_WIDTH else "bidi", index)
            continue
        if ch in HOMOGLYPHS and index in latin:
            _record(result.hidden, "homoglyph", index)
            chars.append(HOMOGLYPHS[ch])
            origin.append(index)
            continue
        for out in _fold(ch) if code > 0x7F else ch:
            chars.append(out)
            origin.append(index)
    text = "".join(chars)
    text, origin = _collapse_spacing(text, origin, result.hidden)
    result.text, result.origin = text, origin
    _drop_lone_homoglyphs(result)
    return result


def _collapse_spacing(text: str, origin: list[int], hidden: list[Hidden]) -> tuple[str, list[int]]:
    if not _SPACED.search(text):
        return text, origin
    # once a text letter-spaces some words, its two-letter words ("n o") are spaced too
    pattern = _SPACED_PAIRS if _SPACED.search(text) else _SPACED
    out: list[str] = []
    out_origin: list[int] = []
    cursor = 0
    for m in pattern.finditer(text):
        out.extend(text[cursor : m.start()])
        out_origin.extend(origin[cursor : m.start()])
        for offset in range(m.start(), m.end(), 2):
            out.append(text[offset])
            out_origin.append(origin[offset])
        hidden.append(Hidden("spacing", origin[m.start()], origin[m.end() - 1] + 1))
        cursor = m.end()
    out.extend(text[cursor:])
    out_origin.extend(origin[cursor:])
    return "".join(out), out_origin


def _drop_lone_homoglyphs(result: Normalised) -> None:
    """A Cyrillic word is not a disguise: keep only homoglyphs inside mixed-script words."""
    kept: list[Hidden] = []
    for h in result.hidden:
        if h.kind != "homoglyph":
            kept.append(h)
            continue
        word = re.search(r"\w*$", result.source[: h.start])
        tail = re.match(r"\w*", result.source[h.end :])
        around = (word.group(0) if word else "") + (tail.group(0) if tail else "")
        if any("a" <= c.lower() <= "z" for c in around):
            kept.append(h)
    result.hidden = kept
