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

import phonenumbers

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


#: ``redis://:secret@host`` holds a password, not an address (the secrets check reports it).
_USERINFO_BEFORE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{1,15}://[^\s/@]*$")


#: ``user@host:path`` is scp/SSH syntax (a colon straight after the host, then a path)
_SCP_PATH = re.compile(r":[\w~/.-]")


def detect_email(text: str) -> Iterator[Finding]:
    for m in _EMAIL.finditer(text):
        local, tld = m.group(1), m.group(3).lower()
        if ".." in local or tld in _FILE_SUFFIXES:
            continue
        if _USERINFO_BEFORE.search(text[max(0, m.start() - 80) : m.start()]):
            continue
        if _SCP_PATH.match(text, m.end()):
            continue  # "git@github.com:org/repo.git": an SSH login and a path, not a mailbox
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
    yield from detect_national_phone(text)


# National formats (a trunk "0" and the country's grouping): UK 020 7946 0321, 07700 900 123;
# DE 030 4419 2276; FR 01 23 45 67 89; JP 03-1234-5678; IN 011 2345 6789 or, beside a
# phone word, 98765 43210. A candidate must be a valid number for one of the regions
# (Google's libphonenumber rules) and not sit after an identifier word (order, ISBN...).
NATIONAL_REGIONS: tuple[str, ...] = ("GB", "DE", "FR", "IN", "JP")
_NATIONAL = re.compile(
    r"(?<![\w+.\-/])(?<!\d[ .\-])"
    r"(\(?0\d{1,4}\)?(?:[ \-./]\d{2,8}){1,4}|0\d{9,11}|0?[6-9]\d{4} \d{5})"
    r"(?![\w\-/]|[.,]\d|[ .\-]\d)"
)
_ID_BEFORE = re.compile(
    r"(?i)\b(?:order|invoice|ref(?:erence)?|account|acct|tracking|id|no\.?|serial|part|sku|isbn"
    r"|issn|version|build|ticket|case|batch|lot|policy|iban|bic|sort\s+code|postcode|zip|amount"
    r"|total|balance|customer|member|patient|claim|pnr|booking|item|parcel|shipment|consignment)"
    r"(?:\s+(?:number|no\.?|num|code|id|ref))?(?:\s+(?:is|was|reads|:))?\W{0,4}$"
)


def detect_national_phone(text: str) -> Iterator[Finding]:
    for m in _NATIONAL.finditer(text):
        raw = m.group(1)
        digits = re.sub(r"\D", "", raw)
        before = text[max(0, m.start() - 24) : m.start()]
        context = bool(_PHONE_CONTEXT.search(before))
        if not 9 <= len(digits) <= 12 or (_ID_BEFORE.search(before) and not context):
            continue
        spaced = any(ch in raw for ch in " -./()")
        if not (context or (spaced and raw.startswith(("0", "(0")))):
            continue  # an unbroken digit run, or a mobile without its trunk 0, needs a phone word
        if any(_valid(raw, region) for region in NATIONAL_REGIONS):
            yield _finding("phone", Risk.MEDIUM, text, m.start(1), m.end(1), 1.0, "phone number")


def _valid(raw: str, region: str) -> bool:
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(raw, region))
    except phonenumbers.NumberParseException:
        return False


# --- US social security number -----------------------------------------------------------

_SSN = re.compile(r"(?<![\w-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\w-])")
_SSN_BARE = re.compile(r"(?<![\w-])(\d{3})(\d{2})(\d{4})(?![\w-])")
# the keyword, then up to eight short words ("number is", "as written on the W-2, is"); the
# last separator may be a JSON or YAML one ('"ssn": "123456789"')
_SSN_CONTEXT = re.compile(
    r"(?i)\b(?:ssn|ss\#|social\s+security(?:\s+(?:number|no\.?|num|\#))?|soc\.?\s*sec\.?)"
    r"(?:\W{1,3}[A-Za-z0-9]{1,12}){0,8}\W{1,5}$"
)


_SSN_WORD = re.compile(r"(?i)\b(?:ssn|ss\#|social\s+security|soc\.?\s*sec)")


def detect_ssn(text: str) -> Iterator[Finding]:
    for m in _SSN.finditer(text):
        before = text[max(0, m.start() - 24) : m.start()]
        if _ID_BEFORE.search(before) and not _SSN_WORD.search(before):
            continue  # "Serial no. 791-68-4539": an identifier in the SSN's shape
        if ssn_valid(m.group(1), m.group(3), m.group(4)):
            yield _finding("ssn", Risk.HIGH, text, m.start(), m.end(), 1.0, "US SSN")
    for m in _SSN_BARE.finditer(text):
        before = text[max(0, m.start() - 80) : m.start()]
        if _SSN_CONTEXT.search(before) and ssn_valid(*m.groups()):
            yield _finding("ssn", Risk.HIGH, text, m.start(), m.end(), 1.0, "US SSN")


# --- payment card ------------------------------------------------------------------------

# groups joined by a space, two spaces, a dash or a dot ("4111.1111.1111.1111")
_DIGIT_RUN = re.compile(r"(?<![\w-])\d+(?:(?:[ .-]| {2})\d+)*(?![\w-]|\.\d)")
_SEPARATORS = re.compile(r"[ .-]")
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
        if count >= 13 and one_separator and card_valid(_SEPARATORS.sub("", raw)):
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
            issuer = card_issuer(_SEPARATORS.sub("", text[start:end]))
            label = f"{issuer} card number"
            yield _finding("credit_card", Risk.HIGH, text, start, end, 1.0, label)
            first = last + 1


# --- IBAN --------------------------------------------------------------------------------

# upper or lower case, groups of four joined by nothing, a space, a dot or a dash
_IBAN = re.compile(
    r"(?<![A-Za-z0-9])([A-Za-z]{2}\d{2}(?:[ .-]?[A-Za-z0-9]{4}){2,7}(?:[ .-]?[A-Za-z0-9]{1,3})?)"
    r"(?![A-Za-z0-9])"
)
_IBAN_SEPARATOR = re.compile(r"[ .-]")


def detect_iban(text: str) -> Iterator[Finding]:
    for m in _IBAN.finditer(text):
        separators = set(_IBAN_SEPARATOR.findall(m.group(1)))
        if len(separators) > 1:
            continue
        sep = separators.pop() if separators else " "
        groups = m.group(1).split(sep)
        # a spaced IBAN may have swallowed a following short word ("... 5385 GH"): drop
        # trailing groups until the checksum holds
        for keep in range(len(groups), 0, -1):
            candidate = sep.join(groups[:keep])
            if iban_valid(_IBAN_SEPARATOR.sub("", candidate).upper()):
                end = m.start(1) + len(candidate)
                yield _finding("iban", Risk.HIGH, text, m.start(1), end, 1.0, "IBAN")
                break


# --- IP addresses ------------------------------------------------------------------------

_IPV4 = re.compile(r"(?<![\w.])(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?!\.?\d|\w)")
# "Python 3.11.4.1", "Chrome 120.0.0.1", "Chrome/120.0.0.1", "v1.2.3.4": versions, not hosts;
# "clause 5.2.7.4", "§ 3.1.2.4": numbered parts of a document
_VERSION_BEFORE = re.compile(
    r"(?i)(?:\bv|\bversion\s*|\bver\.?\s*|\brelease\s*|\bbuild\s*|\bupdate\s*|\bpatch\s*"
    r"|\b(?:clause|section|sect?\.|article|art\.|paragraph|para\.|chapter|appendix|annex)\s*|§\s*"
    r"|\b(?:python|chrome|chromium|firefox|safari|edge|opera|node(?:js)?|java|jdk|jre|openssl|nginx"
    r"|apache|ubuntu|debian|windows|macos|ios|android|kernel|linux|gcc|clang|llvm|rust|rustc|go"
    r"|golang|ruby|php|perl|postgres(?:ql)?|mysql|redis|docker|kubernetes|terraform|npm|pip|sdk"
    r"|firmware|bios|app|electron|dotnet|\.net|unity|unreal|office|excel|word|teams|zoom|slack)"
    r"\s*[:=]?\s*|\w/)$"
)
_IPV6 = re.compile(
    r"(?<![\w:.])((?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?)"
    r"(?![\w:])"
)


# "Installed package libfoo 2.0.5.101": a package name between the word and the version
_PACKAGE_BEFORE = re.compile(
    r"(?i)\b(?:install(?:ed|ing)?|upgrad\w+|downgrad\w+|packages?|librar(?:y|ies)|modules?|plugins?"
    r"|gems?|crates?|dependenc(?:y|ies)|bump(?:ed|s)?)(?:\s+[\w.@/+-]+){0,2}\s*[:=]?\s*$"
)


def detect_ipv4(text: str) -> Iterator[Finding]:
    for m in _IPV4.finditer(text):
        if _VERSION_BEFORE.search(text[max(0, m.start() - 12) : m.start()]):
            continue
        if _PACKAGE_BEFORE.search(text[max(0, m.start() - 48) : m.start()]):
            continue
        try:
            address = ipaddress.IPv4Address(m.group(0))
        except ValueError:
            continue  # an octet above 255, or a leading zero
        if address.is_loopback or address.is_unspecified or address.is_reserved:
            continue  # 127.0.0.1, 0.0.0.0, 240.0.0.0/4 (netmasks 255.255.252.0) identify no one
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
