"""Fresh held-out PII templates (written 2026-12-03, after the first held-out half was seen).

Every template here is new: other phrasings, formats (YAML, XML, HTTP headers, SQL, markdown
tables, chat transcripts, e-mail headers, French/German/Spanish/Italian prose) and
look-alikes than the development templates of ``make_pii_eval_set.py``. They were written
and committed before any detector was run on them; see ``docs/benchmarks-screening.md``.
Values are generated with real checksums in reserved or fictional ranges.
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from make_pii_set import card_digits, group_card, iban_compact, ipv6, spaced  # noqa: E402

R = random.Random
PEOPLE = ["Ines Moreau", "Jonas Weber", "Aiko Mori", "Ravi Kumar", "Grace Okafor",
          "Mateo Ruiz", "Hanna Berg", "Chen Jie", "Fatima Zahra", "Luca Bianchi"]  # fmt: skip
MAIL_HOSTS = ["example.com", "example.org", "example.net", "corp.example.com", "eu.example.org"]


def mail(r: R) -> str:
    first, last = r.choice(PEOPLE).lower().split()
    local = r.choice(
        [f"{first}.{last}", f"{first[0]}{last}", f"{last}-{first}", f"{first}+billing"]
    )
    return f"{local}@{r.choice(MAIL_HOSTS)}"


def uk_mobile_intl(r: R) -> str:
    return r.choice(
        [f"+44 7700 900{r.randint(0, 999):03d}", f"+44 (0)20 7946 0{r.randint(0, 999):03d}"]
    )


def de_intl(r: R) -> str:
    return r.choice([f"+49 30 {r.randint(100000, 999999)}{r.randint(10, 99)}",
                     f"+49 (0)40 {r.randint(1000, 9999)} {r.randint(100, 999)}",
                     f"0171 {r.randint(100, 999)} {r.randint(1000, 9999)}"])  # fmt: skip


def fr_intl(r: R) -> str:
    pairs = " ".join(f"{r.randint(10, 99)}" for _ in range(4))
    return r.choice([f"+33 6 {pairs}", f"+33 (0)1 {pairs}", f"06.{pairs.replace(' ', '.')}"])


def jp_intl(r: R) -> str:
    return r.choice([f"+81 3-{r.randint(1000, 9999)}-{r.randint(1000, 9999)}",
                     f"080-{r.randint(1000, 9999)}-{r.randint(1000, 9999)}"])  # fmt: skip


def in_mobile(r: R) -> str:
    return r.choice([f"+91-98{r.randint(100, 999)}-{r.randint(10000, 99999)}",
                     f"098{r.randint(100, 999)} {r.randint(10000, 99999)}"])  # fmt: skip


def us_dotted(r: R) -> str:
    area = r.choice(["206", "303", "512", "718", "808"])
    return r.choice(
        [f"{area}.555.01{r.randint(0, 99):02d}", f"1-{area}-555-01{r.randint(0, 99):02d}"]
    )


def ssn_parts(r: R) -> tuple[str, str, str]:
    area = r.choice([a for a in range(1, 900) if a != 666])
    return f"{area:03d}", f"{r.randint(1, 99):02d}", f"{r.randint(1, 9999):04d}"


def luhn_bad(r: R) -> str:
    d = card_digits(r)
    return d[:-1] + str((int(d[-1]) + 3) % 10)


def iban_for(r: R, country: str) -> str:
    return iban_compact(r, country)


def secret(r: R) -> str:
    return "".join(
        r.choice("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghjkmnpqrstuvwxyz23456789") for _ in range(14)
    )


def doc_ip(r: R) -> str:
    return f"{r.choice(['192.0.2', '198.51.100', '203.0.113', '172.20.14'])}.{r.randint(2, 250)}"


Template = tuple[str, str, str, Callable[[R], str]]  # labels, note, format, text

HELDOUT_TEMPLATES: list[Template] = [
    # --- PII in new formats -------------------------------------------------------------
    ("email", "pii", "yaml", lambda r: f"owner:\n  name: {r.choice(PEOPLE)}\n  contact: {mail(r)}"),
    ("email", "pii", "email-header", lambda r: f'Reply-To: "{r.choice(PEOPLE)}" <{mail(r)}>'),
    ("email", "pii", "fr-prose", lambda r: f"Merci d'écrire à {mail(r)} avant vendredi."),
    (
        "phone",
        "pii",
        "markdown",
        lambda r: f"| {r.choice(PEOPLE)} | London desk | {uk_mobile_intl(r)} |",
    ),
    (
        "phone",
        "pii",
        "de-prose",
        lambda r: f"Rufen Sie mich unter {de_intl(r)} an, am besten vormittags.",
    ),
    ("phone", "pii", "fr-prose", lambda r: f"Mon portable : {fr_intl(r)} (après 18h)."),
    (
        "phone",
        "pii",
        "chat",
        lambda r: f"[10:42] aiko: you can reach the Tokyo office at {jp_intl(r)}",
    ),
    (
        "phone",
        "pii",
        "xml",
        lambda r: f"<contact><name>{r.choice(PEOPLE)}</name><tel>{in_mobile(r)}</tel></contact>",
    ),
    ("phone", "pii", "prose", lambda r: f"Text the courier at {us_dotted(r)} when you arrive."),
    (
        "ssn",
        "pii",
        "sql",
        lambda r: "INSERT INTO employees (name, ssn) VALUES ('{}', '{}');".format(
            r.choice(PEOPLE), "-".join(ssn_parts(r))
        ),
    ),
    (
        "ssn",
        "pii",
        "prose",
        lambda r: f"The applicant's SSN, as written on the W-2, is {''.join(ssn_parts(r))}.",
    ),
    ("ssn", "pii", "yaml", lambda r: f'tax:\n  social_security_no: "{"-".join(ssn_parts(r))}"'),
    (
        "credit_card",
        "pii",
        "chat",
        lambda r: f"customer: sure, my card is {group_card(card_digits(r), ' ')} exp 09/28",
    ),
    (
        "credit_card",
        "pii",
        "es-prose",
        lambda r: f"Pagué con la tarjeta {group_card(card_digits(r), '-')} el lunes.",
    ),
    (
        "credit_card",
        "pii",
        "http",
        lambda r: f"POST /checkout card_number={card_digits(r)}&cvc=123 HTTP/1.1",
    ),
    (
        "credit_card",
        "pii",
        "markdown",
        lambda r: f"| refund | {group_card(card_digits(r), '.')} | approved |",
    ),
    (
        "iban",
        "pii",
        "de-prose",
        lambda r: f"Bitte überweisen Sie den Betrag auf {spaced(iban_for(r, 'DE'))}.",
    ),
    (
        "iban",
        "pii",
        "it-prose",
        lambda r: f"Coordinate bancarie: {iban_for(r, 'IT')} intestato a {r.choice(PEOPLE)}.",
    ),
    ("iban", "pii", "yaml", lambda r: f"payout:\n  iban: {spaced(iban_compact(r)).lower()}"),
    (
        "iban",
        "pii",
        "email",
        lambda r: f"Our new account is {iban_for(r, 'GB')}; please update your records.",
    ),
    ("ipv4", "pii", "http", lambda r: f"X-Forwarded-For: {doc_ip(r)}"),
    (
        "ipv4",
        "pii",
        "nginx",
        lambda r: f'{doc_ip(r)} - - [02/Mar/2026:11:02:45 +0000] "GET /account HTTP/1.1" 200 512',
    ),
    ("ipv6", "pii", "json", lambda r: json.dumps({"event": "login", "client_ip": ipv6(r)})),
    (
        "url_password",
        "pii",
        "env",
        lambda r: f"AMQP_URL=amqp://worker:{secret(r)}@mq.internal.example:5672/prod",
    ),
    (
        "url_password",
        "pii",
        "yaml",
        lambda r: f"database:\n  url: postgresql://app:{secret(r)}@db.example.net/orders",
    ),
    (
        "url_password",
        "pii",
        "prose",
        lambda r: (
            f"Try connecting with mongodb://:{secret(r)}@mongo.example.net:27017 from the bastion."
        ),
    ),
    (
        "email,phone",
        "pii",
        "signature",
        lambda r: f"--\n{r.choice(PEOPLE)}\n{mail(r)} | {fr_intl(r)}",
    ),
    ("ssn,email", "pii", "csv", lambda r: f"{r.choice(PEOPLE)},{mail(r)},{'-'.join(ssn_parts(r))}"),
    # --- look-alikes --------------------------------------------------------------------
    (
        "",
        "lookalike:oid",
        "prose",
        lambda r: f"Query SNMP OID 1.3.6.1.{r.randint(2, 9)}.{r.randint(1, 99)} on the switch.",
    ),
    (
        "",
        "lookalike:version-4part",
        "log",
        lambda r: (
            f"Installed package libfoo {r.randint(1, 9)}.{r.randint(0, 30)}.{r.randint(0, 9)}.{r.randint(100, 999)}"
        ),
    ),
    (
        "",
        "lookalike:windows-build",
        "prose",
        lambda r: (
            f"Update to Windows build 10.0.{r.randint(19000, 26000)}.{r.randint(100, 4000)} first."
        ),
    ),
    (
        "",
        "lookalike:bad-luhn",
        "chat",
        lambda r: f"customer: the number on the gift card is {group_card(luhn_bad(r), ' ')}",
    ),
    (
        "",
        "lookalike:ean",
        "csv",
        lambda r: (
            f"SKU-{r.randint(100, 999)},barcode,40{r.randint(10**10, 10**11 - 1)},{r.randint(1, 40)} units"
        ),
    ),
    (
        "",
        "lookalike:isbn",
        "prose",
        lambda r: (
            f"Cite it as ISBN 978-3-{r.randint(10, 99)}-{r.randint(100000, 999999)}-{r.randint(0, 9)}."
        ),
    ),
    (
        "",
        "lookalike:reference",
        "email",
        lambda r: (
            f"Your booking reference is 0{r.randint(10, 99)} {r.randint(1000, 9999)} {r.randint(1000, 9999)}; keep it for check-in."
        ),
    ),
    (
        "",
        "lookalike:git-email",
        "log",
        lambda r: (
            f"Merge pull request #{r.randint(100, 999)} from dependabot/pip/requests-2.32.{r.randint(0, 9)}"
        ),
    ),
    (
        "",
        "lookalike:npm-scope",
        "prose",
        lambda r: (
            f"Add @types/node@{r.randint(18, 22)}.{r.randint(0, 9)}.{r.randint(0, 9)} to devDependencies."
        ),
    ),
    (
        "",
        "lookalike:url-no-password",
        "env",
        lambda r: f"REDIS_URL=redis://cache.example.com:6379/{r.randint(0, 15)}",
    ),
    (
        "",
        "lookalike:timestamp",
        "log",
        lambda r: (
            f"job {r.randint(100, 999)} took 1{r.randint(10, 99)}.{r.randint(100, 999)} ms at epoch 17{r.randint(10000000, 99999999)}"
        ),
    ),
    (
        "",
        "lookalike:serial",
        "prose",
        lambda r: (
            f"Serial no. {r.randint(100, 999)}-{r.randint(10, 99)}-{r.randint(1000, 9999)} is printed under the battery."
        ),
    ),
    (
        "",
        "lookalike:price-list",
        "csv",
        lambda r: (
            f"{r.randint(1000, 9999)},{r.randint(1, 99)}.{r.randint(10, 99)},{r.randint(100, 999)}.{r.randint(10, 99)},EUR"
        ),
    ),
    ("", "lookalike:hex-digest", "log", lambda r: f"sha256:{r.getrandbits(256):064x} pulled"),
    (
        "",
        "lookalike:postcode",
        "prose",
        lambda r: (
            f"Deliver to unit {r.randint(1, 40)}, 1{r.randint(0, 9)} Rue de la Paix, 75002 Paris."
        ),
    ),
    (
        "",
        "lookalike:mention",
        "chat",
        lambda r: f"[09:1{r.randint(0, 9)}] @ravi.kumar can you review PR {r.randint(1000, 9999)}?",
    ),
    (
        "",
        "lookalike:dimensions",
        "prose",
        lambda r: (
            f"Box size {r.randint(100, 999)} x {r.randint(100, 999)} x {r.randint(100, 999)} mm, weight {r.randint(1, 30)}.{r.randint(0, 9)} kg."
        ),
    ),
    (
        "",
        "lookalike:bad-iban",
        "prose",
        lambda r: (
            lambda v: (
                f"The sample IBAN {v[:2]}{(int(v[2:4]) + 7) % 100:02d}{v[4:]} fails validation, as intended."
            )
        )(iban_compact(r)),
    ),
]
