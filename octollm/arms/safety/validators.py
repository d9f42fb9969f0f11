"""Checks that turn a pattern match into a confirmed detection: checksums and number rules.

A look-alike that fails its validator (a card number failing Luhn, an IBAN with a wrong
mod-97 remainder, an SSN in area 000) is not reported at all.
"""

from __future__ import annotations

import math
from collections import Counter

# ISO 13616 IBAN lengths per country (SWIFT IBAN registry).
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
    "BH": 22, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24,
    "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SC": 31,
    "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod-10) checksum used by payment card numbers."""
    if not digits.isdigit() or len(digits) < 2:
        return False
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def luhn_check_digit(partial: str) -> str:
    """The digit that makes ``partial + digit`` pass Luhn."""
    for digit in "0123456789":
        if luhn_valid(partial + digit):
            return digit
    raise ValueError(f"no Luhn digit for {partial!r}")  # unreachable for digit strings


def _prefix_in(digits: str, low: int, high: int) -> bool:
    width = len(str(low))
    return low <= int(digits[:width]) <= high


def card_issuer(digits: str) -> str | None:
    """The issuer whose prefix and length rules ``digits`` satisfies, or None."""
    n = len(digits)
    if digits[:2] in {"34", "37"} and n == 15:
        return "amex"
    if digits[0] == "4" and n in {13, 16, 19}:
        return "visa"
    if (_prefix_in(digits, 51, 55) or _prefix_in(digits, 2221, 2720)) and n == 16:
        return "mastercard"
    if (
        digits.startswith("6011") or _prefix_in(digits, 644, 649) or digits.startswith("65")
    ) and 16 <= n <= 19:
        return "discover"
    if _prefix_in(digits, 3528, 3589) and 16 <= n <= 19:
        return "jcb"
    if (_prefix_in(digits, 300, 305) or digits[:2] in {"36", "38", "39"}) and 14 <= n <= 19:
        return "diners"
    if digits.startswith("62") and 16 <= n <= 19:
        return "unionpay"
    if digits[:4] in {"5018", "5020", "5038", "5893", "6304", "6759", "6761", "6762", "6763"}:
        return "maestro" if 12 <= n <= 19 else None
    return None


def card_valid(digits: str) -> bool:
    return 13 <= len(digits) <= 19 and card_issuer(digits) is not None and luhn_valid(digits)


def iban_checksum(country: str, bban: str) -> str:
    """The two check digits of the IBAN ``country + ?? + bban``."""
    remainder = _mod97(bban + country + "00")
    return f"{98 - remainder:02d}"


def _mod97(text: str) -> int:
    numeric = "".join(str(int(ch, 36)) for ch in text)
    return int(numeric) % 97


def iban_valid(compact: str) -> bool:
    """Country length and the ISO 7064 mod-97 checksum of an IBAN without spaces."""
    compact = compact.upper()
    country = compact[:2]
    if IBAN_LENGTHS.get(country) != len(compact):
        return False
    if not compact[2:4].isdigit() or not compact.isalnum() or not compact.isascii():
        return False
    return _mod97(compact[4:] + compact[:4]) == 1


def ssn_valid(area: str, group: str, serial: str) -> bool:
    """US SSN rules: area not 000, 666 or 900-999; group not 00; serial not 0000."""
    if not (area.isdigit() and group.isdigit() and serial.isdigit()):
        return False
    a = int(area)
    return a != 0 and a != 666 and a < 900 and int(group) != 0 and int(serial) != 0


def nanp_valid(area: str, exchange: str) -> bool:
    """North American numbering: area and exchange start 2-9 and are not N11 service codes."""
    for code in (area, exchange):
        if len(code) != 3 or not code.isdigit() or code[0] in "01" or code[1:] == "11":
            return False
    return True


def shannon_entropy(value: str) -> float:
    """Bits per character of ``value``'s own character distribution."""
    if not value:
        return 0.0
    counts = Counter(value)
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in counts.values())
