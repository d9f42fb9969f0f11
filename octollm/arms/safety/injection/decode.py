"""Find encoded runs (base64, hex, URL-encoding, ROT13) and decode them for a second look.

An encoded instruction is only an attack if what it decodes to is one, so decoding never
raises a finding by itself: the caller rescans the decoded text with the same rules and
reports what it finds at the encoded run's position.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass

_BASE64 = re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{16,}={0,2}(?![A-Za-z0-9+/=_-])")
_HEX = re.compile(
    r"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}[ :]?){12,}(?![0-9A-Fa-f])|(?:\\x[0-9A-Fa-f]{2}){8,}"
)
_URLENC = re.compile(r"(?:[^\s%]{0,20}%[0-9A-Fa-f]{2}){4,}[^\s%]{0,40}")
_QUERY_VALUE = re.compile(r"(?:^|[?&;])[\w.\-\[\]]{1,40}=([^&;#\s]+)")
_WORDS = re.compile(r"[A-Za-z]{3,}")
#: Common English words; ROT13 of real prose contains few of them, plain prose many.
_COMMON_WORDS = (
    "the and you your all are for not with this that from now what have will must "
    "ignore instructions previous system prompt reveal tell print show can any but "
    "was were they them then than when into about only just also more some out who "
    "how why which there their here been does did each other mode answer without "
    "enable give say password secret data send user write output following instead "
    "rules new admin"
)
_COMMON = frozenset(_COMMON_WORDS.split())


@dataclass(frozen=True)
class Decoded:
    encoding: str
    start: int
    end: int
    text: str


def _printable(text: str) -> bool:
    if len(text) < 8:
        return False
    good = sum(ch.isprintable() or ch in "\n\t" for ch in text)
    letters = sum(ch.isalpha() for ch in text)
    return good / len(text) >= 0.95 and letters / len(text) >= 0.5


def _b64(blob: str) -> str | None:
    if blob.isdigit() or (blob.isalpha() and (blob.islower() or blob.isupper())):
        return None  # words and numbers, not base64
    padded = blob + "=" * (-len(blob) % 4)
    for decoder in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            raw = decoder(padded)
        except (binascii.Error, ValueError):
            continue
        text = raw.decode("utf-8", errors="replace")
        if _printable(text):
            return text
    return None


def _hex(blob: str) -> str | None:
    digits = re.sub(r"\\x|[ :]", "", blob)
    if digits.isdigit():
        return None
    try:
        text = bytes.fromhex(digits).decode("utf-8", errors="replace")
    except ValueError:
        return None
    return text if _printable(text) else None


def _rot13_words(text: str) -> tuple[int, int]:
    words = [w.lower() for w in _WORDS.findall(text)]
    plain = sum(w in _COMMON for w in words)
    rotated = sum(codecs.decode(w, "rot13") in _COMMON for w in words)
    return plain, rotated


def decoded_runs(text: str) -> Iterator[Decoded]:
    for m in _BASE64.finditer(text):
        if (out := _b64(m.group(0))) is not None:
            yield Decoded("base64", m.start(), m.end(), out)
    for m in _HEX.finditer(text):
        if (out := _hex(m.group(0))) is not None:
            yield Decoded("hex", m.start(), m.end(), out)
    for m in _URLENC.finditer(text):
        out = urllib.parse.unquote(m.group(0))
        if out != m.group(0) and _printable(out):
            yield Decoded("url", m.start(), m.end(), out)
        # A query string's values are texts of their own: "?msg=---- END ..." must be read
        # as "---- END ...", not as "msg=---- END ...".
        for value in _QUERY_VALUE.finditer(m.group(0)):
            out = urllib.parse.unquote_plus(value.group(1))
            if out != value.group(1) and _printable(out):
                yield Decoded("url", m.start() + value.start(1), m.start() + value.end(1), out)
    plain, rotated = _rot13_words(text)
    if rotated >= 2 and rotated > plain:
        yield Decoded("rot13", 0, len(text), codecs.decode(text, "rot13"))
