"""Round-4 PII templates (written 2026-12-03 after round 3 was evaluated and looked at).

Round 3's 80 lines were evaluated once and then read, so they are development data now. These
templates were written afterwards by a different author, committed before any detector ran on
them, and are evaluated once (split ``heldout4``). They change wording and format on purpose:
CSV exports with headers and quoting, structured JSON logs, e-mail bodies and signatures,
chat transcripts, vCards, stack traces, SQL, docker-compose files and prose in Spanish,
Portuguese, Dutch, German, French, Italian and Japanese. Look-alikes are the ones those formats
really carry: epoch-millisecond timestamps, netmasks, masked card numbers, creditor
references, credential placeholders in documentation, ``git@`` remotes and image digests.

Values use reserved or fictional ranges (example.com/.org/.net, 555-01xx, Ofcom drama
numbers, ARCEP fiction ranges 01 99 00 and 06 39 98, documentation IPs) and real checksums.
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

from make_pii_set import card_digits, group_card, iban_compact, spaced  # noqa: E402

from octollm.arms.safety.validators import iban_checksum  # noqa: E402

R = random.Random
STAFF = ["Marta Gil", "Joao Costa", "Daan Visser", "Hiro Ito", "Nadia Petrova", "Kwame Asante",
         "Elif Demir", "Oscar Lund", "Maya Cohen", "Rosa Conti"]  # fmt: skip


def who(r: R) -> str:
    return r.choice(STAFF)


def mailbox(r: R) -> str:
    first, last = who(r).lower().split()
    local = r.choice([f"{first}.{last}", f"{last}.{first[0]}", f"{first}{r.randint(70, 99)}"])
    return f"{local}@{r.choice(['example.com', 'example.org', 'example.net', 'hr.example.com'])}"


def us_phone4(r: R) -> str:
    area = r.choice(["206", "303", "512", "646", "718"])
    line = f"01{r.randint(0, 99):02d}"
    return r.choice([f"{area}.555.{line}", f"1-{area}-555-{line}", f"+1-{area}-555-{line}"])


def uk_phone4(r: R) -> str:
    return r.choice([f"0161 496 0{r.randint(0, 999):03d}", f"07700 900{r.randint(0, 999):03d}",
                     f"+44 161 496 0{r.randint(0, 999):03d}", f"0131 496 0{r.randint(0, 999):03d}"])  # fmt: skip


def de_phone4(r: R) -> str:
    return r.choice([f"040 {r.randint(100, 999)} {r.randint(100, 999)} {r.randint(10, 99)}",
                     f"0170 {r.randint(100, 999)} {r.randint(1000, 9999)}",
                     f"+49 (0) 221 {r.randint(100000, 999999)}"])  # fmt: skip


def fr_phone4(r: R) -> str:
    return r.choice([f"01 99 00 {r.randint(10, 99)} {r.randint(10, 99)}",
                     f"06 39 98 {r.randint(10, 99)} {r.randint(10, 99)}",
                     f"+33 6 39 98 {r.randint(10, 99)} {r.randint(10, 99)}"])  # fmt: skip


def jp_phone4(r: R) -> str:
    return r.choice([f"06-{r.randint(6000, 6999)}-{r.randint(1000, 9999)}",
                     f"080-{r.randint(1000, 9999)}-{r.randint(1000, 9999)}",
                     f"+81 90 {r.randint(1000, 9999)} {r.randint(1000, 9999)}"])  # fmt: skip


def in_phone4(r: R) -> str:
    return r.choice([f"+91-98{r.randint(100, 999)}-{r.randint(10000, 99999)}",
                     f"098{r.randint(100, 999)} {r.randint(10000, 99999)}",
                     f"022 {r.randint(2400, 2899)} {r.randint(1000, 9999)}"])  # fmt: skip


def ssn4(r: R) -> str:
    area = r.choice([a for a in range(1, 900) if a != 666])
    return f"{area:03d}-{r.randint(1, 99):02d}-{r.randint(1, 9999):04d}"


def ssn4_spaced(r: R) -> str:
    return ssn4(r).replace("-", " ")


def card4(r: R, sep: str = " ") -> str:
    return group_card(card_digits(r), sep)


def bad_iban(r: R, country: str) -> str:
    good = iban_compact(r, country)
    check = (int(good[2:4]) + r.randint(1, 9)) % 100
    return f"{good[:2]}{check:02d}{good[4:]}"


def creditor_reference(r: R) -> str:
    ref = str(r.randint(10**8, 10**12))
    return "RF" + iban_checksum("RF", ref) + ref


def token(r: R) -> str:
    return "".join(
        r.choice("abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(14)
    )


def epoch_ms(r: R) -> int:
    return r.randint(1_733_000_000_000, 1_799_000_000_000)


def jlog(r: R, **fields: object) -> str:
    base: dict[str, object] = {"ts": f"2026-11-{r.randint(10, 28)}T0{r.randint(0, 9)}:{r.randint(10, 59)}:{r.randint(10, 59)}.{r.randint(100, 999)}Z", "level": r.choice(["info", "warn"])}  # fmt: skip
    base.update(fields)
    return json.dumps(base)


Template = tuple[str, str, str, Callable[[R], str]]

ROUND4_TEMPLATES: list[Template] = [
    # --- e-mail addresses -----------------------------------------------------------------
    ("email", "pii", "email-header", lambda r: f'Reply-To: "{who(r)}" <{mailbox(r)}>'),
    (
        "email",
        "pii",
        "json-log",
        lambda r: jlog(r, msg="password reset requested", user_email=mailbox(r)),
    ),
    (
        "email",
        "pii",
        "csv",
        lambda r: f'"{r.randint(1000, 9999)}","{who(r)}","{mailbox(r)}","active"',
    ),
    (
        "email",
        "pii",
        "pt-prose",
        lambda r: f"Envie o comprovante para {mailbox(r)} até sexta-feira.",
    ),
    ("email", "pii", "url", lambda r: f"GET /unsubscribe?email={mailbox(r)}&list=weekly HTTP/1.1"),
    # --- phones -----------------------------------------------------------------------------
    (
        "phone",
        "pii",
        "chat",
        lambda r: (
            f"[09:{r.randint(10, 59)}] {who(r).split()[0]}: you can reach me on {uk_phone4(r)} after lunch"
        ),
    ),
    ("phone", "pii", "vcard", lambda r: f"TEL;TYPE=cell:{de_phone4(r)}"),
    ("phone", "pii", "signature", lambda r: f"{who(r)} | Customer Success | T {us_phone4(r)}"),
    (
        "phone",
        "pii",
        "fr-prose",
        lambda r: f"Pour toute question, contactez notre conseillère au {fr_phone4(r)}.",
    ),
    (
        "phone",
        "pii",
        "ja-prose",
        lambda r: f"お問い合わせは電話 {jp_phone4(r)} までご連絡ください。",
    ),
    ("phone", "pii", "csv", lambda r: f"{r.randint(100, 999)},{who(r)},Mumbai,{in_phone4(r)}"),
    (
        "phone",
        "pii",
        "es-prose",
        lambda r: (
            f"Mi móvil es +34 6{r.randint(10, 99)} {r.randint(100, 999)} {r.randint(100, 999)}, llámame cuando llegues."
        ),
    ),
    (
        "phone",
        "pii",
        "nl-prose",
        lambda r: (
            f"Bel gerust naar +31 6 {r.randint(1000, 9999)} {r.randint(1000, 9999)} voor een afspraak."
        ),
    ),
    (
        "phone",
        "pii",
        "json-log",
        lambda r: jlog(r, event="sms.sent", to=f"+447700900{r.randint(100, 999)}", template="otp"),
    ),
    # --- SSN --------------------------------------------------------------------------------
    (
        "ssn",
        "pii",
        "csv",
        lambda r: f"employee_id,name,ssn\nE{r.randint(1000, 9999)},{who(r)},{ssn4(r)}",
    ),
    (
        "ssn",
        "pii",
        "email",
        lambda r: f"Hi HR, my social security number for the W-4 is {ssn4_spaced(r)}. Thanks!",
    ),
    (
        "ssn",
        "pii",
        "json",
        lambda r: json.dumps({"applicant": who(r), "ssn": ssn4(r).replace("-", "")}),
    ),
    ("ssn", "pii", "es-prose", lambda r: f"Número de Seguro Social: {ssn4(r)}"),
    # --- payment cards ----------------------------------------------------------------------
    ("credit_card", "pii", "chat", lambda r: f"ok the card is {card4(r)} exp 09/29, thanks"),
    (
        "credit_card",
        "pii",
        "json-log",
        lambda r: jlog(r, msg="charge declined", pan=card4(r, ""), reason="insufficient_funds"),
    ),
    (
        "credit_card",
        "pii",
        "sql",
        lambda r: (
            f"INSERT INTO payments (customer, card_no) VALUES ('{who(r)}', '{card4(r, '-')}');"
        ),
    ),
    (
        "credit_card",
        "pii",
        "de-prose",
        lambda r: f"Bitte belasten Sie meine Kreditkarte {card4(r)} mit dem Restbetrag.",
    ),
    # --- IBAN -------------------------------------------------------------------------------
    (
        "iban",
        "pii",
        "email",
        lambda r: (
            f"Bankverbindung: {who(r)}, IBAN {spaced(iban_compact(r, 'DE'))}, BIC COBADEFFXXX"
        ),
    ),
    (
        "iban",
        "pii",
        "nl-prose",
        lambda r: f"Graag overmaken naar rekeningnummer {iban_compact(r, 'NL')} t.n.v. {who(r)}.",
    ),
    (
        "iban",
        "pii",
        "csv",
        lambda r: (
            f"{who(r)};{iban_compact(r, r.choice(['ES', 'IT', 'BE']))};EUR;{r.randint(10, 999)},00"
        ),
    ),
    ("iban", "pii", "chat", lambda r: f"sending u my iban: {iban_compact(r, 'IE').lower()}"),
    (
        "iban",
        "pii",
        "it-prose",
        lambda r: (
            f"Il bonifico va effettuato sul conto {spaced(iban_compact(r, 'IT'))} intestato a {who(r)}."
        ),
    ),
    # --- IP addresses -----------------------------------------------------------------------
    (
        "ipv4",
        "pii",
        "json-log",
        lambda r: jlog(
            r,
            msg="login failed",
            remote_addr=f"198.51.100.{r.randint(2, 250)}",
            attempts=r.randint(2, 9),
        ),
    ),
    (
        "ipv4",
        "pii",
        "traceback",
        lambda r: (
            f"ConnectionRefusedError: [Errno 111] Connect call failed ('203.0.113.{r.randint(2, 250)}', 443)"
        ),
    ),
    (
        # Labelled "ipv4" alone when written; the row also holds an e-mail address. Corrected
        # after the one evaluation (docs/benchmarks-screening.md, round 4).
        "ipv4,email",
        "pii",
        "csv",
        lambda r: f"2026-11-{r.randint(10, 28)},{mailbox(r)},192.0.2.{r.randint(2, 250)},Chrome",
    ),
    (
        "ipv6",
        "pii",
        "log",
        lambda r: (
            f"Accepted publickey for deploy from 2001:db8:{r.randint(1, 9999):x}::{r.randint(1, 9999):x} port 51514 ssh2"
        ),
    ),
    # --- credentials in URLs ----------------------------------------------------------------
    (
        "url_password",
        "pii",
        "compose",
        lambda r: f"      DATABASE_URL: postgres://orders:{token(r)}@db:5432/orders",
    ),
    (
        "url_password",
        "pii",
        "traceback",
        lambda r: (
            f"sqlalchemy.exc.OperationalError: could not connect (mysql+pymysql://report:{token(r)}@db-replica-{r.randint(1, 9)}.example.net/stats)"
        ),
    ),
    (
        "url_password",
        "pii",
        "shell",
        lambda r: (
            f"$ git remote -v\norigin  https://ci-bot:{token(r)}@git.example.org/team/app.git (fetch)"
        ),
    ),
    # --- mixed rows -------------------------------------------------------------------------
    (
        "email,phone",
        "pii",
        "vcard",
        lambda r: f"BEGIN:VCARD\nFN:{who(r)}\nEMAIL:{mailbox(r)}\nTEL:{fr_phone4(r)}\nEND:VCARD",
    ),
    (
        "email,credit_card",
        "pii",
        "email",
        lambda r: (
            f"From: {mailbox(r)}\nSubject: order\n\nPlease use card {card4(r, '-')} for the reorder."
        ),
    ),
    # --- look-alikes --------------------------------------------------------------------------
    (
        "",
        "lookalike:epoch-ms",
        "json-log",
        lambda r: jlog(r, msg="cache refreshed", started_ms=epoch_ms(r), took_ms=r.randint(3, 900)),
    ),
    (
        "",
        "lookalike:netmask",
        "config",
        lambda r: f"iface eth0 inet static\n  netmask 255.255.{r.choice([0, 240, 252, 255])}.0",
    ),
    (
        "",
        "lookalike:masked-card",
        "json-log",
        lambda r: jlog(
            r, msg="charge ok", card=f"{card_digits(r)[:4]}********{r.randint(1000, 9999)}"
        ),
    ),
    (
        "",
        "lookalike:card-last4",
        "chat",
        lambda r: f"charged to the visa ending in {r.randint(1000, 9999)}, receipt sent",
    ),
    (
        "",
        "lookalike:creditor-reference",
        "email",
        lambda r: (
            f"Please quote payment reference {spaced(creditor_reference(r))} on the transfer."
        ),
    ),
    ("", "lookalike:bad-iban", "csv", lambda r: f"{who(r)};{bad_iban(r, 'DE')};EUR;rejected"),
    (
        "",
        "lookalike:password-placeholder",
        "compose",
        lambda r: r.choice(
            [
                "      DATABASE_URL: postgres://app:${POSTGRES_PASSWORD}@db:5432/app",
                "REDIS_URL=redis://:<password>@cache.example.com:6379/0",
                "amqp://USER:PASSWORD@broker.example.org:5672/",
            ]
        ),
    ),
    (
        "",
        "lookalike:git-remote",
        "shell",
        lambda r: f"git clone git@github.com:acme/service-{r.randint(1, 99)}.git",
    ),
    (
        "",
        "lookalike:image-digest",
        "compose",
        lambda r: f"    image: ghcr.io/acme/api@sha256:{r.getrandbits(256):064x}",
    ),
    (
        "",
        "lookalike:ssn-last4",
        "email",
        lambda r: (
            f"To verify your identity, confirm the last four digits of your SSN ({r.randint(1000, 9999)})."
        ),
    ),
    (
        "",
        "lookalike:zip4",
        "csv",
        lambda r: (
            f"shipping,{r.randint(10000, 99999)}-{r.randint(1000, 9999)},USPS,{r.randint(1, 9)}.{r.randint(10, 99)} lb"
        ),
    ),
    (
        "",
        "lookalike:build-number",
        "chat",
        lambda r: (
            f"fixed in build 2026.{r.randint(1, 12)}.{r.randint(1, 28)}.{r.randint(1, 99)}, pls retest"
        ),
    ),
    (
        "",
        "lookalike:ein",
        "form",
        lambda r: (
            f"Employer Identification Number (EIN): {r.randint(10, 99)}-{r.randint(1000000, 9999999)}"
        ),
    ),
    (
        "",
        "lookalike:order-id",
        "ja-prose",
        lambda r: (
            f"ご注文番号 {r.randint(100, 999)}-{r.randint(1000000, 9999999)}-{r.randint(1000000, 9999999)} の発送が完了しました。"
        ),
    ),
    (
        "",
        "lookalike:section-number",
        "prose",
        lambda r: (
            f"See clause {r.randint(1, 9)}.{r.randint(1, 9)}.{r.randint(1, 9)}.{r.randint(1, 9)} of the supplier agreement."
        ),
    ),
    (
        "",
        "lookalike:trace-id",
        "json-log",
        lambda r: jlog(
            r,
            trace_id=f"{r.getrandbits(128):032x}",
            span_id=f"{r.getrandbits(64):016x}",
            duration_us=r.randint(1000, 9_999_999),
        ),
    ),
]
