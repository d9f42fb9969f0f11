"""Build ``pii_eval_set.jsonl``: PII in realistic prose, logs, JSON and CSV, split dev / held-out.

Rows: ``{"split", "origin", "labels", "note", "format", "text"}``; ``labels`` lists the PII and
credential types present (empty for a look-alike line). Every template is written for
octollm (no copied data); values carry real checksums (Luhn, mod-97, SSN rules) and use
reserved or fictional ranges (example.com, 555-01xx, Ofcom drama numbers, documentation IPs).

Each template produces several lines with fresh values. Round 1 split alternate templates of
each type into ``dev`` and ``heldout``; that held-out half was evaluated once, then looked at,
so round 2 merged it into ``dev`` (``origin: v1-heldout``). The held-out half is now the fresh
templates of ``pii_heldout_templates.py`` (``origin: v2-heldout``), written and committed before
the detectors ever ran on them. The set includes
the forms an earlier evaluation missed (SSN a few words after its keyword, national UK/DE/FR/
IN/JP phones, lowercase IBANs, dotted or double-spaced cards, userinfo-only URLs) and the
look-alikes it mistook (``Python 3.11.4.1``, ``Chrome 120.0.0.1``, a password-only Redis URL).

    python tests/data/make_pii_eval_set.py
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))

from make_pii_set import card_digits, group_card, iban_compact, ipv6, spaced  # noqa: E402
from pii_heldout_templates import HELDOUT_TEMPLATES  # noqa: E402
from pii_round3_templates import ROUND3_TEMPLATES  # noqa: E402
from pii_round4_templates import ROUND4_TEMPLATES  # noqa: E402
from pii_round5_templates import ROUND5_TEMPLATES  # noqa: E402

SEED = 20261203
OUT = HERE / "pii_eval_set.jsonl"
PER_TEMPLATE = 5
ROUND4_PER_TEMPLATE = 3
ROUND5_PER_TEMPLATE = 4
R = random.Random

NAMES = ["Ana Silva", "Tom Brown", "Yuki Tanaka", "Omar Haddad", "Priya Nair", "Lena Vogel",
         "Marc Dubois", "Kofi Mensah", "Sofia Rossi", "Li Wei"]  # fmt: skip
DOMAINS = ["example.com", "example.org", "example.net", "mail.example.com"]


def email(r: R) -> str:
    first, last = r.choice(NAMES).lower().split()
    return f"{first}{r.choice(['.', '_', ''])}{last}@{r.choice(DOMAINS)}"


def us_phone(r: R) -> str:
    area = r.choice(["202", "312", "415", "617", "917"])
    line = f"01{r.randint(0, 99):02d}"
    return r.choice([f"({area}) 555-{line}", f"{area}-555-{line}", f"+1 {area} 555 {line}"])


def uk_phone(r: R) -> str:
    return r.choice([f"07700 900 {r.randint(0, 999):03d}", f"020 7946 0{r.randint(0, 999):03d}",
                     f"0113 496 0{r.randint(0, 999):03d}", f"+44 20 7946 0{r.randint(0, 999):03d}"])  # fmt: skip


def de_phone(r: R) -> str:
    return r.choice([f"030 {r.randint(1000, 9999)} {r.randint(1000, 9999)}",
                     f"089 {r.randint(100, 999)} {r.randint(1000, 9999)}",
                     f"0151 {r.randint(1000000, 9999999)}{r.randint(0, 9)}"])  # fmt: skip


def fr_phone(r: R) -> str:
    pairs = " ".join(f"{r.randint(10, 99)}" for _ in range(4))
    return f"0{r.choice([1, 4, 6, 7])} {pairs}"


def jp_phone(r: R) -> str:
    return r.choice([f"03-{r.randint(1000, 9999)}-{r.randint(1000, 9999)}",
                     f"090-{r.randint(1000, 9999)}-{r.randint(1000, 9999)}"])  # fmt: skip


def in_phone(r: R) -> str:
    return r.choice([f"011 {r.randint(2000, 2999)} {r.randint(1000, 9999)}",
                     f"+91 98{r.randint(100, 999)} {r.randint(10000, 99999)}"])  # fmt: skip


def ssn_digits(r: R) -> tuple[str, str, str]:
    area = r.choice([a for a in range(1, 900) if a != 666])
    return f"{area:03d}", f"{r.randint(1, 99):02d}", f"{r.randint(1, 9999):04d}"


def ssn(r: R) -> str:
    return "-".join(ssn_digits(r))


def ssn_bare(r: R) -> str:
    return "".join(ssn_digits(r))


def card(r: R, sep: str | None = None) -> str:
    return group_card(card_digits(r), sep if sep is not None else r.choice([" ", "-"]))


def iban(r: R) -> str:
    value = iban_compact(r)
    return r.choice([value, spaced(value)])


def ip(r: R) -> str:
    prefix = r.choice(["192.0.2", "198.51.100", "203.0.113", "10.20.30"])
    return f"{prefix}.{r.randint(1, 254)}"


def pw(r: R) -> str:
    return "".join(r.choice("abcdefghjkmnpqrstuvwxyz23456789") for _ in range(12))


def bad_card(r: R) -> str:
    digits = card_digits(r)
    return group_card(digits[:-1] + str((int(digits[-1]) + 1) % 10), " ")


def bad_iban(r: R) -> str:
    value = iban_compact(r)
    return spaced(value[:2] + f"{(int(value[2:4]) + 1) % 100:02d}" + value[4:])


Template = tuple[str, str, str, Callable[[R], str]]  # labels, note, format, text

TEMPLATES: list[Template] = [
    # --- email ------------------------------------------------------------------------
    ("email", "pii", "prose", lambda r: f"Please cc {email(r)} on the renewal thread."),
    (
        "email",
        "pii",
        "log",
        lambda r: f"2026-03-02T10:14:07Z INFO smtp accepted from=<{email(r)}> size=4211",
    ),
    (
        "email",
        "pii",
        "json",
        lambda r: json.dumps({"customer": {"name": r.choice(NAMES), "email": email(r)}}),
    ),
    ("email", "pii", "csv", lambda r: f"{r.randint(1000, 9999)},{r.choice(NAMES)},{email(r)},gold"),
    # --- phones -----------------------------------------------------------------------
    (
        "phone",
        "pii",
        "prose",
        lambda r: f"You can reach the site manager on {us_phone(r)} after 9.",
    ),
    ("phone", "pii", "prose", lambda r: f"Our London office number is {uk_phone(r)}."),
    ("phone", "pii", "prose", lambda r: f"Rufen Sie uns unter {de_phone(r)} an."),
    ("phone", "pii", "prose", lambda r: f"Appelez le secrétariat au {fr_phone(r)} avant midi."),
    ("phone", "pii", "csv", lambda r: f"{r.choice(NAMES)},Tokyo,{jp_phone(r)}"),
    (
        "phone",
        "pii",
        "json",
        lambda r: json.dumps({"contact": r.choice(NAMES), "mobile": in_phone(r)}),
    ),
    ("phone", "pii", "log", lambda r: f"sms queued to={uk_phone(r)} template=otp status=ok"),
    ("phone", "pii", "prose", lambda r: f"Mobile: {uk_phone(r)} (evenings only)"),
    # --- SSN --------------------------------------------------------------------------
    ("ssn", "pii", "prose", lambda r: f"Her social security number is {ssn_bare(r)}."),
    ("ssn", "pii", "prose", lambda r: f"SSN on file: {ssn(r)}"),
    ("ssn", "pii", "csv", lambda r: f"{r.choice(NAMES)},{ssn(r)},W-2,2025"),
    ("ssn", "pii", "json", lambda r: json.dumps({"employee": r.choice(NAMES), "ssn": ssn(r)})),
    ("ssn", "pii", "prose", lambda r: f"Social Security No. for the applicant: {ssn_bare(r)}"),
    ("ssn", "pii", "log", lambda r: f"kyc check ssn={ssn(r)} result=match"),
    # --- cards ------------------------------------------------------------------------
    ("credit_card", "pii", "prose", lambda r: f"Charge card {card(r)} for the deposit."),
    ("credit_card", "pii", "prose", lambda r: f"The card number is {card(r, '.')} exp 09/28."),
    (
        "credit_card",
        "pii",
        "log",
        lambda r: f"payment failed pan={card(r, '')} reason=do_not_honor",
    ),
    ("credit_card", "pii", "csv", lambda r: f"{r.choice(NAMES)},{card(r, '  ')},visa"),
    (
        "credit_card",
        "pii",
        "json",
        lambda r: json.dumps({"pan": card(r, "-"), "cvv_checked": True}),
    ),
    (
        "credit_card",
        "pii",
        "prose",
        lambda r: f"Card on file ending in the digits {card(r, ' ')} must be replaced.",
    ),
    # --- IBAN -------------------------------------------------------------------------
    ("iban", "pii", "prose", lambda r: f"Please wire the refund to {iban(r)}."),
    ("iban", "pii", "prose", lambda r: f"iban: {iban(r).lower()}"),
    ("iban", "pii", "csv", lambda r: f"{r.choice(NAMES)},{iban_compact(r)},EUR"),
    (
        "iban",
        "pii",
        "json",
        lambda r: json.dumps(
            {"payee": r.choice(NAMES), "iban": spaced(iban_compact(r)).replace(" ", ".")}
        ),
    ),
    ("iban", "pii", "log", lambda r: f"sepa transfer to={iban_compact(r)} amount=120.00"),
    ("iban", "pii", "prose", lambda r: f"Bankverbindung: {spaced(iban_compact(r, 'DE')).lower()}"),
    # --- IPs --------------------------------------------------------------------------
    (
        "ipv4",
        "pii",
        "log",
        lambda r: f'{ip(r)} - - [02/Mar/2026:10:14:07 +0000] "GET /login HTTP/1.1" 200',
    ),
    ("ipv4", "pii", "prose", lambda r: f"The attacker connected from {ip(r)} twice."),
    ("ipv4", "pii", "json", lambda r: json.dumps({"client_ip": ip(r), "agent": "curl/8.5.0"})),
    ("ipv6", "pii", "log", lambda r: f"accepted connection from [{ipv6(r)}]:51234"),
    # --- credentials in URLs ------------------------------------------------------------
    (
        "url_password",
        "pii",
        "prose",
        lambda r: f"REDIS_URL=redis://:{pw(r)}@cache.example.com:6379/0",
    ),
    (
        "url_password",
        "pii",
        "log",
        lambda r: f"connecting to postgres://app:{pw(r)}@db.example.net/orders",
    ),
    (
        "url_password",
        "pii",
        "json",
        lambda r: json.dumps({"broker": f"amqp://:{pw(r)}@mq.example.org:5672//"}),
    ),
    # --- mixed --------------------------------------------------------------------------
    ("email,phone", "pii", "csv", lambda r: f"{r.choice(NAMES)},{email(r)},{de_phone(r)}"),
    (
        "credit_card,email",
        "pii",
        "json",
        lambda r: json.dumps({"email": email(r), "card": card(r)}),
    ),
    ("ipv4,email", "pii", "log", lambda r: f"login ok user={email(r)} ip={ip(r)}"),
    (
        "iban,phone",
        "pii",
        "prose",
        lambda r: f"Kontakt {de_phone(r)}, IBAN {spaced(iban_compact(r, 'DE'))}.",
    ),
    # --- look-alikes --------------------------------------------------------------------
    (
        "",
        "lookalike:version",
        "prose",
        lambda r: f"Tested on Python 3.{r.randint(8, 13)}.{r.randint(0, 9)}.1 and pip 24.0.",
    ),
    (
        "",
        "lookalike:version",
        "log",
        lambda r: (
            f"ua=Mozilla/5.0 Chrome/{r.randint(100, 130)}.0.0.{r.randint(1, 200)} Safari/537.36"
        ),
    ),
    (
        "",
        "lookalike:version",
        "prose",
        lambda r: (
            f"Upgrade to Chrome {r.randint(100, 130)}.0.0.{r.randint(1, 200)} before the demo."
        ),
    ),
    (
        "",
        "lookalike:version",
        "json",
        lambda r: json.dumps(
            {
                "firmware": f"v{r.randint(1, 9)}.{r.randint(0, 9)}.{r.randint(0, 9)}.{r.randint(0, 99)}"
            }
        ),
    ),
    (
        "url_password",
        "lookalike:userinfo-url",
        "prose",
        lambda r: f"Set CELERY_BROKER=redis://:{pw(r)}@redis.example.com:6379/1 in prod.",
    ),
    ("", "lookalike:bad-luhn", "prose", lambda r: f"Test card {bad_card(r)} should be declined."),
    ("", "lookalike:bad-iban", "csv", lambda r: f"rejected,{bad_iban(r)},checksum"),
    (
        "",
        "lookalike:order-number",
        "prose",
        lambda r: (
            f"Order 0{r.randint(100, 999)} {r.randint(1000, 9999)} {r.randint(100, 999)} has shipped."
        ),
    ),
    (
        "",
        "lookalike:isbn",
        "prose",
        lambda r: (
            f"ISBN 0-{r.randint(100, 999)}-{r.randint(10000, 99999)}-{r.randint(0, 9)} is out of print."
        ),
    ),
    ("", "lookalike:ssn-no-context", "log", lambda r: f"batch {ssn_bare(r)} processed in 42 ms"),
    (
        "",
        "lookalike:invalid-ssn",
        "prose",
        lambda r: (
            f"Placeholder SSN 000-{r.randint(10, 99)}-{r.randint(1000, 9999)} is never valid."
        ),
    ),
    (
        "",
        "lookalike:timestamp",
        "log",
        lambda r: (
            f"2026-03-0{r.randint(1, 9)} 10:{r.randint(10, 59)}:{r.randint(10, 59)} job finished rows={r.randint(1000, 99999)}"
        ),
    ),
    (
        "",
        "lookalike:file-at",
        "prose",
        lambda r: f"Replace icon@2x.png and logo@{r.randint(2, 3)}x.webp in the assets folder.",
    ),
    (
        "",
        "lookalike:package-at",
        "prose",
        lambda r: f"Pin lodash@4.17.{r.randint(10, 21)} in package.json.",
    ),
    (
        "",
        "lookalike:amount",
        "csv",
        lambda r: f"2026-03-01,invoice,{r.randint(1000, 9999)}.{r.randint(10, 99)},EUR",
    ),
    ("", "lookalike:uuid", "json", lambda r: json.dumps({"id": f"{r.getrandbits(128):032x}"})),
    (
        "",
        "lookalike:loopback",
        "log",
        lambda r: (
            f"listening on 127.0.0.1:{r.randint(1024, 65000)} and 0.0.0.0:{r.randint(1024, 65000)}"
        ),
    ),
    (
        "",
        "lookalike:coordinates",
        "prose",
        lambda r: f"The depot is at 51.{r.randint(1000, 9999)}, -0.{r.randint(1000, 9999)}.",
    ),
    (
        "",
        "lookalike:tracking",
        "prose",
        lambda r: (
            f"Tracking number 0{r.randint(10, 99)} {r.randint(1000, 9999)} {r.randint(1000, 9999)}, courier DPD."
        ),
    ),
    (
        "",
        "lookalike:version-ip",
        "prose",
        lambda r: (
            f"Built with node {r.randint(16, 22)}.{r.randint(0, 9)}.{r.randint(0, 9)}.{r.randint(0, 9)} on CI."
        ),
    ),
]


#: Development templates written after round 4 was evaluated, for the error classes it showed
#: (``origin: v4-dev``); different wording and values from the round-4 lines.
DEV4_TEMPLATES: list[Template] = [
    ("ssn", "pii", "json", lambda r: json.dumps({"employee": r.choice(NAMES), "SSN": ssn_bare(r)})),
    ("ssn", "pii", "yaml", lambda r: f'patient:\n  ssn: "{ssn_bare(r)}"'),
    (
        "",
        "lookalike:netmask",
        "config",
        lambda r: f"ifconfig eth1 netmask 255.255.{r.choice([0, 128, 192, 224])}.0 up",
    ),
    (
        "",
        "lookalike:scp-remote",
        "shell",
        lambda r: f"scp build.tar.gz deploy@ci{r.randint(1, 9)}.example.org:/srv/releases/",
    ),
    (
        "",
        "lookalike:section-number",
        "prose",
        lambda r: (
            f"As required by section {r.randint(1, 9)}.{r.randint(1, 9)}.{r.randint(1, 9)}.{r.randint(1, 9)} of the policy."
        ),
    ),
    (
        "",
        "lookalike:section-number",
        "markdown",
        lambda r: (
            f"§ {r.randint(1, 9)}.{r.randint(1, 9)}.{r.randint(1, 9)}.{r.randint(1, 9)} Retention of records"
        ),
    ),
]


def build() -> list[dict[str, object]]:
    """``dev``: every template above, including the first held-out half (``origin``
    ``v1-heldout``), which was evaluated once and then looked at, so it became development
    data. ``heldout``: the fresh templates of ``pii_heldout_templates.py`` (``v2-heldout``)."""
    rows: list[dict[str, object]] = []
    seen: dict[str, int] = {}
    for index, (labels, note, fmt, make) in enumerate(TEMPLATES):
        key = labels or "lookalike"
        n = seen[key] = seen.get(key, -1) + 1
        origin = "v1-dev" if n % 2 == 0 else "v1-heldout"
        r = random.Random(SEED * 1000 + index)
        for _ in range(PER_TEMPLATE):
            rows.append({"split": "dev", "origin": origin,
                         "labels": [x for x in labels.split(",") if x],
                         "note": note, "format": fmt, "text": make(r)})  # fmt: skip
    for index, (labels, note, fmt, make) in enumerate(HELDOUT_TEMPLATES):
        r = random.Random(SEED * 7000 + index)
        for _ in range(PER_TEMPLATE):
            rows.append({"split": "heldout", "origin": "v2-heldout",
                         "labels": [x for x in labels.split(",") if x],
                         "note": note, "format": fmt, "text": make(r)})  # fmt: skip
    for index, (labels, note, fmt, make) in enumerate(ROUND3_TEMPLATES):
        r = random.Random(SEED * 9000 + index)
        for _ in range(PER_TEMPLATE):
            rows.append({"split": "heldout3", "origin": "v3-heldout",
                         "labels": [x for x in labels.split(",") if x],
                         "note": note, "format": fmt, "text": make(r)})  # fmt: skip
    for index, (labels, note, fmt, make) in enumerate(DEV4_TEMPLATES):
        r = random.Random(SEED * 13000 + index)
        for _ in range(ROUND4_PER_TEMPLATE):
            rows.append({"split": "dev", "origin": "v4-dev",
                         "labels": [x for x in labels.split(",") if x],
                         "note": note, "format": fmt, "text": make(r)})  # fmt: skip
    for index, (labels, note, fmt, make) in enumerate(ROUND4_TEMPLATES):
        r = random.Random(SEED * 11000 + index)
        for _ in range(ROUND4_PER_TEMPLATE):
            rows.append({"split": "heldout4", "origin": "v4-heldout",
                         "labels": [x for x in labels.split(",") if x],
                         "note": note, "format": fmt, "text": make(r)})  # fmt: skip
    for index, (labels, note, fmt, make) in enumerate(ROUND5_TEMPLATES):
        r = random.Random(SEED * 17000 + index)
        for _ in range(ROUND5_PER_TEMPLATE):
            rows.append({"split": "heldout5", "origin": "v5-heldout",
                         "labels": [x for x in labels.split(",") if x],
                         "note": note, "format": fmt, "text": make(r)})  # fmt: skip
    return rows


def render(rows: list[dict[str, object]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


if __name__ == "__main__":
    OUT.write_text(render(build()), encoding="utf-8")
    print(f"wrote {OUT}")
