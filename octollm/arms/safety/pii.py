"""Personal data: email, phone, SSN, payment card, IBAN and IP addresses.

Each detector pairs a deliberately broad pattern with a validator; only validated matches are
reported (confidence 1.0 for a checksum or numbering rule that passed, 0.9 for a shape-only
type such as email). Risk levels follow OctoLLM's Guardian: IP low; email and phone medium;
SSN, card and IBAN high.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator

from octollm.arms.safety.finding import Detector, Finding, Risk
from octollm.arms.safety.redaction import mask
from octollm.arms.safety.validators import (
    card_issuer,
    card_valid,
    iban_valid,
    nanp_valid,
    ssn_valid,
)


def _finding(subtype: str, risk: Risk, text: str, start: int, end: int, conf: float, label: str
             ) -> Finding:  # fmt: skip
    shown = mask(subtype, text[start:end])
    return Finding("pii", subtype, risk, start, end, conf, f"{label} detected: {shown}")


# --- email -------------------------------------------------------------------------------

_EMAIL = re.compile(
    r"(?<![\w.+%-])([A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,62}[A-Za-z0-9_%+-])?)"
    r"@((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+([A-Za-z]{2,24}))(?![\w-])"
)
#: "icon@2x.png" is a file name, not an address.
_FILE_SUFFIXES = frozenset({"png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "bmp", "tif"})


def detect_email(text: str) -> Iterator[Finding]:
    for m in _EMAIL.finditer(text):
        local, tld = m.group(1), m.group(3).lower()
        if ".." in local or tld in _FILE_SUFFIXES:
            continue
        yield _finding("email", Risk.MEDIUM, text, m.start(), m.end(), 0.9, "email address")


# --- phone -------------------------------------------------------------------------------

_NANP = re.compile(
    r"(?:(?<=[A-Za-z_\]])(?=\()|(?<![\w+\-.]))(?:(\+?1)[\s.-]?)?(\()?([2-9]\d{2})(\))?([\s.-]?)([2-9]\d{2})([\s.-]?)(\d{4})"
    r"(?![\w-]|\.\d)"
)
_INTERNATIONAL = re.compile(
    r"(?<![\w+])\+(?!1[\s.(-]?[2-9]\d{2})([2-9]\d{0,2})[\s.-]?(?:\(0\)[\s.-]?)?"
    r"(\(?\d{1,4}\)?(?:[\s.-]?\d{1,4}){1,5})(?![\w-]|\.\d)"
)
_PHONE_CONTEXT = re.compile(r"(?i)\b(?:phone|tel|telephone|mobile|cell|fax|call|sms|whatsapp)\b")


def detect_phone(text: str) -> Iterator[Finding]:
    for m in _NANP.finditer(text):
        country, lpar, area, rpar, sep1, exchange, sep2, _ = m.groups()
        if not nanp_valid(area, exchange) or bool(lpar) != bool(rpar):
            continue
        formatted = bool(country or lpar or sep1 or sep2)
        if sep1 != sep2 and "." in (sep1, sep2) and not lpar:
            continue  # "202.555-0143" mixes separators: not how numbers are written
        window = text[max(0, m.start() - 24) : m.start()]
        if not formatted and not _PHONE_CONTEXT.search(window):
            continue  # ten bare digits are as often an order or account number
        yield _finding("phone", Risk.MEDIUM, text, m.start(), m.end(), 1.0, "phone number")
    for m in _INTERNATIONAL.finditer(text):
        digits = re.sub(r"\D", "", m.group(0))
        if 8 <= len(digits) <= 15:
            yield _finding("phone", Risk.MEDIUM, text, m.start(), m.end(), 1.0, "phone number")


# --- US social security number -----------------------------------------------------------

_SSN = re.compile(r"(?<![\w-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\w-])")
_SSN_BARE = re.compile(r"(?<![\w-])(\d{3})(\d{2})(\d{4})(?![\w-])")
_SSN_CONTEXT = re.compile(r"(?i)\b(?:ssn|social security(?: number| no\.?)?)\W{0,3}$")


def detect_ssn(text: str) -> Iterator[Finding]:
    for m in _SSN.finditer(text):
        if ssn_valid(m.group(1), m.group(3), m.group(4)):
            yield _finding("ssn", Risk.HIGH, text, m.start(), m.end(), 1.0, "US SSN")
    for m in _SSN_BARE.finditer(text):
        before = text[max(0, m.start() - 24) : m.start()]
        if _SSN_CONTEXT.search(before) and ssn_valid(*m.groups()):
            yield _finding("ssn", Risk.HIGH, text, m.start(), m.end(), 1.0, "US SSN")


# --- payment card ------------------------------------------------------------------------

_DIGIT_RUN = re.compile(r"(?<![\w-])\d+(?:[ -]\d+)*(?![\w-])")
_DIGITS = re.compile(r"\d+")


def _card_window(run: str, groups: list[re.Match[str]], first: int) -> int | None:
    """The last group index of the longest valid card starting at group ``first``, if any."""
    best = None
    count = 0
    for last in range(first, len(groups)):
        count += len(groups[last].group(0))
        if count > 19:
            break
        raw = run[groups[first].start() : groups[last].end()]
        one_separator = len({ch for ch in raw if not ch.isdigit()}) <= 1
        if count >= 13 and one_separator and card_valid(raw.replace(" ", "").replace("-", "")):
            best = last
    return best


def detect_card(text: str) -> Iterator[Finding]:
    # A run of digit groups may hold a card beside other numbers ("555-0143 4111 1111 ..."):
    # try windows of consecutive groups rather than the whole run.
    for m in _DIGIT_RUN.finditer(text):
        run, groups = m.group(0), list(_DIGITS.finditer(m.group(0)))
        first = 0
        while first < len(groups):
            last = _card_window(run, groups, first)
            if last is None:
                first += 1
                continue
            start, end = m.start() + groups[first].start(), m.start() + groups[last].end()
            issuer = card_issuer(text[start:end].replace(" ", "").replace("-", ""))
            label = f"{issuer} card number"
            yield _finding("credit_card", Risk.HIGH, text, start, end, 1.0, label)
            first = last + 1


# --- IBAN --------------------------------------------------------------------------------

_IBAN = re.compile(
    r"(?<![A-Za-z0-9])([A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?)(?![A-Za-z0-9])"
)


def detect_iban(text: str) -> Iterator[Finding]:
    for m in _IBAN.finditer(text):
        groups = m.group(1).split(" ")
        # a spaced IBAN may have swallowed a following short word ("... 5385 GH"): drop
        # trailing groups until the checksum holds
        for keep in range(len(groups), 0, -1):
            candidate = " ".join(groups[:keep])
            if iban_valid(candidate.replace(" ", "")):
                end = m.start(1) + len(candidate)
                yield _finding("iban", Risk.HIGH, text, m.start(1), end, 1.0, "IBAN")
                break


# --- IP addresses ------------------------------------------------------------------------

_IPV4 = re.compile(r"(?<![\w.])(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?!\.?\d|\w)")
_BROADCAST = ipaddress.IPv4Address("255.255.255.255")
_VERSION_BEFORE = re.compile(r"(?i)(?:\bv|\bversion\s*|\bver\.?\s*|\brelease\s*)$")
_IPV6 = re.compile(
    r"(?<![\w:.])((?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?)"
    r"(?![\w:])"
)


def detect_ipv4(text: str) -> Iterator[Finding]:
    for m in _IPV4.finditer(text):
        if _VERSION_BEFORE.search(text[max(0, m.start() - 12) : m.start()]):
            continue
        try:
            address = ipaddress.IPv4Address(m.group(0))
        except ValueError:
            continue  # an octet above 255, or a leading zero
        if address.is_loopback or address.is_unspecified or address == _BROADCAST:
            continue  # 127.0.0.1, 0.0.0.0, 255.255.255.255 identify no one
        yield _finding("ipv4", Risk.LOW, text, m.start(), m.end(), 1.0, "IPv4 address")


def detect_ipv6(text: str) -> Iterator[Finding]:
    for m in _IPV6.finditer(text):
        candidate = m.group(1)
        groups = [g for g in candidate.split(":") if g]
        if len(groups) < 2 or not any(ch.isdigit() for ch in candidate):
            continue  # "::", "a::b" or "dead:beef::" are more often code than addresses
        try:
            ipaddress.IPv6Address(candidate)
        except ValueError:
            continue
        yield _finding("ipv6", Risk.LOW, text, m.start(1), m.end(1), 1.0, "IPv6 address")


PII_DETECTORS: tuple[Detector, ...] = (
    detect_email,
    detect_phone,
    detect_ssn,
    detect_card,
    detect_iban,
    detect_ipv4,
    detect_ipv6,
)
