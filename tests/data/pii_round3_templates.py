"""Round-3 PII templates (written 2026-12-03 after iteration 2 of the PII detectors).

Round 2's held-out templates were looked at to write iteration 2, so they no longer measure
it. These were written afterwards, committed before the one evaluation (split ``heldout3``).
Same conventions as ``pii_heldout_templates.py``.
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from make_pii_set import card_digits, group_card, iban_compact, spaced  # noqa: E402

R = random.Random
CREW = ["Noor Aziz", "Pedro Alves", "Kenji Sato", "Ada Novak", "Sam Lee", "Eva Lind"]


def addr(r: R) -> str:
    first, last = r.choice(CREW).lower().split()
    return f"{first}_{last}{r.randint(1, 99)}@{r.choice(['example.com', 'example.org'])}"


def ssn3(r: R) -> str:
    area = r.choice([a for a in range(1, 900) if a != 666])
    return f"{area:03d}-{r.randint(1, 99):02d}-{r.randint(1, 9999):04d}"


Template = tuple[str, str, str, Callable[[R], str]]

ROUND3_TEMPLATES: list[Template] = [
    (
        "email",
        "pii",
        "prose",
        lambda r: f"Questions? Write to {addr(r)} and we'll reply within a day.",
    ),
    ("phone", "pii", "prose", lambda r: f"Mobile: 07700 900{r.randint(100, 999)} (WhatsApp only)"),
    (
        "phone",
        "pii",
        "json",
        lambda r: json.dumps(
            {"name": r.choice(CREW), "tel": f"+49 89 {r.randint(1000000, 9999999)}"}
        ),
    ),
    (
        "phone",
        "pii",
        "prose",
        lambda r: (
            f"Appelez le standard au 01 {r.randint(10, 99)} {r.randint(10, 99)} {r.randint(10, 99)} {r.randint(10, 99)}."
        ),
    ),
    ("ssn", "pii", "form", lambda r: f"Social Security #: {ssn3(r)}"),
    (
        "credit_card",
        "pii",
        "log",
        lambda r: f"WARN payment retry card={group_card(card_digits(r), '')} attempt=2",
    ),
    ("iban", "pii", "prose", lambda r: f"Paiement par virement : {spaced(iban_compact(r, 'FR'))}"),
    (
        "ipv4",
        "pii",
        "log",
        lambda r: f"sshd: Failed password for root from 203.0.113.{r.randint(2, 250)} port 22",
    ),
    (
        "url_password",
        "pii",
        "prose",
        lambda r: (
            f"The job pulls from https://deploy:{r.getrandbits(48):x}@git.example.com/app.git nightly."
        ),
    ),
    (
        "email,phone",
        "pii",
        "csv",
        lambda r: (
            f"{r.choice(CREW)};{addr(r)};+33 7 {r.randint(10, 99)} {r.randint(10, 99)} {r.randint(10, 99)} {r.randint(10, 99)}"
        ),
    ),
    (
        "",
        "lookalike:version",
        "prose",
        lambda r: (
            f"Upgrade OpenSSH to 9.{r.randint(0, 9)}.{r.randint(0, 9)}.{r.randint(1, 9)} before Friday."
        ),
    ),
    (
        "",
        "lookalike:invoice",
        "prose",
        lambda r: (
            f"Invoice no. 0{r.randint(10, 99)} {r.randint(1000, 9999)} {r.randint(1000, 9999)} is overdue."
        ),
    ),
    (
        "",
        "lookalike:bad-luhn",
        "csv",
        lambda r: (lambda d: f"gift,{d[:-1]}{(int(d[-1]) + 5) % 10},25.00")(card_digits(r)),
    ),
    (
        "",
        "lookalike:date-range",
        "prose",
        lambda r: (
            f"The offer runs 2026-0{r.randint(1, 9)}-1{r.randint(0, 9)} to 2026-1{r.randint(0, 2)}-2{r.randint(0, 8)}."
        ),
    ),
    (
        "",
        "lookalike:model-number",
        "prose",
        lambda r: (
            f"Replacement part {r.randint(100, 999)}-{r.randint(10, 99)}-{r.randint(1000, 9999)} fits the 2019 model."
        ),
    ),
    (
        "",
        "lookalike:handle",
        "chat",
        lambda r: f"follow us @acme_{r.randint(10, 99)} on the socials",
    ),
]
