"""Round-5 PII templates (written 2026-12-03 after PII iteration 3, which round 4 prompted).

Round 4 was evaluated once and then read to write iteration 3, so it no longer measures it.
These templates were written afterwards, committed before any detector ran on them, and are
evaluated once (split ``heldout5``). Formats again differ from every earlier round: syslog and
firewall lines, Apache logs, HL7 and SEPA XML fragments, INI files, Slack JSON exports, quoted
e-mail replies, ``tel:`` and ``mailto:`` links, phones with extensions, markdown tables and
forms in German, French, Spanish, Swedish and Polish. Look-alikes: MAC addresses, git SHAs,
CIDR-free version strings in changelogs, hyphenated ISBN-13s, durations, Windows paths,
dotted dates, latitude/longitude pairs and Luhn-failing card-shaped numbers.

Values use reserved or fictional ranges and real checksums, as in the earlier rounds.
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
FOLK = ["Ingrid Holm", "Piotr Nowak", "Lucia Ferrer", "Amara Diallo", "Theo Martin",
        "Sana Malik", "Erik Berg", "Zofia Kowal", "Diego Vidal", "Mei Lin"]  # fmt: skip


def person(r: R) -> str:
    return r.choice(FOLK)


def inbox(r: R) -> str:
    first, last = person(r).lower().split()
    local = r.choice([f"{first}.{last}", f"{first[0]}.{last}", f"{last}{r.randint(1, 9)}"])
    return f"{local}@{r.choice(['example.com', 'example.org', 'mail.example.net'])}"


def ssn5(r: R) -> str:
    area = r.choice([a for a in range(1, 900) if a != 666])
    return f"{area:03d}-{r.randint(1, 99):02d}-{r.randint(1, 9999):04d}"


def bad_luhn(r: R) -> str:
    d = card_digits(r)
    return d[:-1] + str((int(d[-1]) + r.randint(1, 9)) % 10)


Template = tuple[str, str, str, Callable[[R], str]]

ROUND5_TEMPLATES: list[Template] = [
    # e-mail
    (
        "email",
        "pii",
        "mailto",
        lambda r: f'<a href="mailto:{inbox(r)}?subject=Invoice">Contact billing</a>',
    ),
    (
        "email",
        "pii",
        "quoted-reply",
        lambda r: f"On Tue, {person(r)} <{inbox(r)}> wrote:\n> see attached",
    ),
    (
        "email",
        "pii",
        "slack-json",
        lambda r: json.dumps(
            {"type": "message", "user": "U024BE7LH", "text": f"my work email is {inbox(r)}"}
        ),
    ),
    (
        "email",
        "pii",
        "ini",
        lambda r: f"[notifications]\nalert_recipient = {inbox(r)}\nlevel = warn",
    ),
    ("email", "pii", "sv-prose", lambda r: f"Skicka kvittot till {inbox(r)} senast fredag."),
    # phone
    (
        "phone",
        "pii",
        "tel-link",
        lambda r: f'<a href="tel:+4420794{r.randint(60000, 60999)}">Call our London office</a>',
    ),
    (
        "phone",
        "pii",
        "extension",
        lambda r: (
            f"Reach the front desk at (312) 555-01{r.randint(10, 99)} ext. {r.randint(100, 999)}."
        ),
    ),
    (
        "phone",
        "pii",
        "de-form",
        lambda r: (
            f"Telefon (privat): 0{r.choice(['30', '40', '89'])} {r.randint(1000000, 9999999)}"
        ),
    ),
    (
        "phone",
        "pii",
        "fr-form",
        lambda r: (
            f"Tél. portable : 07 {r.randint(10, 99)} {r.randint(10, 99)} {r.randint(10, 99)} {r.randint(10, 99)}"
        ),
    ),
    (
        "phone",
        "pii",
        "markdown-table",
        lambda r: f"| {person(r)} | Osaka | 06-{r.randint(6100, 6999)}-{r.randint(1000, 9999)} |",
    ),
    (
        "phone",
        "pii",
        "pl-prose",
        lambda r: (
            f"Proszę dzwonić pod numer +48 {r.randint(500, 799)} {r.randint(100, 999)} {r.randint(100, 999)}."
        ),
    ),
    (
        "phone",
        "pii",
        "hl7",
        lambda r: (
            f"PID|1||{r.randint(100000, 999999)}||{person(r).split()[1]}^{person(r).split()[0]}||19800101|F|||||^PRN^PH^^1^415^555{r.randint(100, 199):04d}"
        ),
    ),
    (
        "phone",
        "pii",
        "in-prose",
        lambda r: (
            f"For delivery queries call +91 {r.randint(70000, 99999)} {r.randint(10000, 99999)} between 9 and 6."
        ),
    ),
    # SSN
    (
        "ssn",
        "pii",
        "hl7",
        lambda r: f"PID|1||{r.randint(100000, 999999)}||DOE^JANE||19800101|F||||||||||||{ssn5(r)}",
    ),
    ("ssn", "pii", "form", lambda r: f"SSN#: {ssn5(r)}    DOB: 04/12/1985"),
    (
        "ssn",
        "pii",
        "chat",
        lambda r: f"hr asked for my social again, it's {ssn5(r).replace('-', '')}",
    ),
    # cards
    (
        "credit_card",
        "pii",
        "log",
        lambda r: f"PAYMENT ERROR PAN={group_card(card_digits(r), '')} RC=05 DO NOT HONOR",
    ),
    (
        "credit_card",
        "pii",
        "quoted-reply",
        lambda r: (
            f"> can you charge {group_card(card_digits(r), ' ')} again?\nDone, receipt attached."
        ),
    ),
    (
        "credit_card",
        "pii",
        "es-prose",
        lambda r: f"Pagué con la tarjeta {group_card(card_digits(r), '-')}, caduca en 2028.",
    ),
    # IBAN
    (
        "iban",
        "pii",
        "sepa-xml",
        lambda r: (
            f"<CdtrAcct><Id><IBAN>{iban_compact(r, r.choice(['DE', 'FR', 'NL']))}</IBAN></Id></CdtrAcct>"
        ),
    ),
    ("iban", "pii", "pl-prose", lambda r: f"Numer konta: {spaced(iban_compact(r, 'PL'))}"),
    ("iban", "pii", "ini", lambda r: f"[payout]\niban={iban_compact(r, 'AT')}\ncurrency=EUR"),
    # IP
    (
        "ipv4",
        "pii",
        "firewall",
        lambda r: (
            f"kernel: [UFW BLOCK] IN=eth0 OUT= SRC=203.0.113.{r.randint(2, 250)} DST=192.0.2.1 PROTO=TCP DPT=22"
        ),
    ),
    (
        "ipv4",
        "pii",
        "apache",
        lambda r: (
            f'198.51.100.{r.randint(2, 250)} - frank [10/Oct/2026:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326'
        ),
    ),
    (
        "ipv6",
        "pii",
        "nginx",
        lambda r: (
            f'2001:db8:{r.randint(1, 999):x}:{r.randint(1, 999):x}::{r.randint(1, 99):x} - - [10/Oct/2026:13:55:36 +0000] "POST /login HTTP/2.0" 302 0'
        ),
    ),
    # credential URLs
    (
        "url_password",
        "pii",
        "ini",
        lambda r: (
            f"[database]\nsqlalchemy.url = postgresql+psycopg://svc:{r.getrandbits(60):x}@pg.example.net:5432/app"
        ),
    ),
    (
        "url_password",
        "pii",
        "slack-json",
        lambda r: json.dumps(
            {"text": f"use ftp://upload:{r.getrandbits(48):x}@files.example.org/in to send it"}
        ),
    ),
    # mixed
    (
        "email,phone",
        "pii",
        "signature",
        lambda r: (
            f"--\n{person(r)}\nSales Engineer\n{inbox(r)} | +49 170 {r.randint(1000000, 9999999)}"
        ),
    ),
    (
        "ipv4,email",
        "pii",
        "syslog",
        lambda r: (
            f"postfix/smtpd[2121]: NOQUEUE: reject: RCPT from unknown[198.51.100.{r.randint(2, 250)}]: 550 <{inbox(r)}>: Recipient address rejected"
        ),
    ),
    # look-alikes
    (
        "",
        "lookalike:mac",
        "log",
        lambda r: (
            f"dhcpd: DHCPACK to {':'.join(f'{r.randint(0, 255):02x}' for _ in range(6))} via eth0"
        ),
    ),
    (
        "",
        "lookalike:git-sha",
        "shell",
        lambda r: f"commit {r.getrandbits(160):040x}\nAuthor: CI Bot <noreply>",
    ),
    (
        "",
        "lookalike:changelog-version",
        "markdown",
        lambda r: (
            f"## [{r.randint(1, 9)}.{r.randint(0, 20)}.{r.randint(0, 9)}] - 2026-1{r.randint(0, 2)}-0{r.randint(1, 9)}"
        ),
    ),
    (
        "",
        "lookalike:isbn13",
        "prose",
        lambda r: (
            f"ISBN 978-{r.randint(0, 1)}-{r.randint(100, 999)}-{r.randint(10000, 99999)}-{r.randint(0, 9)} (paperback)"
        ),
    ),
    (
        "",
        "lookalike:duration",
        "log",
        lambda r: (
            f"step finished in 0{r.randint(0, 9)}:{r.randint(10, 59)}:{r.randint(10, 59)}.{r.randint(100, 999)}"
        ),
    ),
    (
        "",
        "lookalike:windows-path",
        "log",
        lambda r: (
            f"Loaded C:\\Program Files\\Acme\\{r.randint(10, 99)}.{r.randint(0, 9)}.{r.randint(0, 9)}\\acme.dll"
        ),
    ),
    (
        "",
        "lookalike:dotted-date",
        "de-form",
        lambda r: (
            f"Geburtsort: Hamburg, Datum: {r.randint(10, 28)}.{r.randint(10, 12)}.{r.randint(1950, 2005)}"
        ),
    ),
    (
        "",
        "lookalike:latlong",
        "json",
        lambda r: json.dumps(
            {"lat": round(r.uniform(-60, 60), 6), "lon": round(r.uniform(-170, 170), 6)}
        ),
    ),
    (
        "",
        "lookalike:bad-luhn",
        "log",
        lambda r: f"test fixture card_number={bad_luhn(r)} expected=declined",
    ),
    (
        "",
        "lookalike:account-id",
        "slack-json",
        lambda r: json.dumps(
            {
                "user": f"U{r.randint(10**9, 10**10 - 1)}",
                "ts": f"{r.randint(1700000000, 1799999999)}.{r.randint(100000, 999999)}",
            }
        ),
    ),
    (
        "",
        "lookalike:port-list",
        "config",
        lambda r: (
            f"allowed_ports = {r.randint(1000, 2000)}, {r.randint(3000, 4000)}, {r.randint(5000, 6000)}, {r.randint(8000, 9000)}"
        ),
    ),
    (
        "",
        "lookalike:price-table",
        "markdown-table",
        lambda r: (
            f"| Pro | {r.randint(10, 99)}.00 | {r.randint(100, 999)}.00 | {r.randint(1000, 9999)}.00 |"
        ),
    ),
    (
        "",
        "lookalike:noreply-placeholder",
        "docs",
        lambda r: r.choice(
            [
                "Set SMTP_FROM to the address your users should see, e.g. <your-address>.",
                "Replace USER and PASS in smtp://USER:PASS@smtp.example.com:587 with your own values.",
                "mysql://root:${MYSQL_ROOT_PASSWORD}@db:3306/app",
            ]
        ),
    ),
]
