"""Build ``pii_labelled.tsv``: a seeded, labelled set of lines for the Guardian's PII eval.

Columns: ``labels`` (comma-separated types present, or ``none``), ``note`` (``pii``, ``clean``,
``lookalike:<what>`` for lines holding values that must NOT be reported, alone or beside real
PII, or ``hard:<what>`` for real PII in forms the detectors are known to miss), ``text``.

Valid card numbers and IBANs carry real checksums; domains are reserved (example.com/.org/
.net), phone numbers are the fictional 555-01xx range or drama/test ranges, IPs come from
documentation and private ranges, keys are random strings in provider shapes.

Run ``python tests/data/make_pii_set.py`` to rewrite the file; the output is deterministic and
a test checks that the committed file matches it.
"""

from __future__ import annotations

import base64
import json
import random
import string
import sys
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from octollm.arms.safety.validators import iban_checksum, luhn_check_digit  # noqa: E402

SEED = 20251101
OUT = HERE / "pii_labelled.tsv"
ALNUM = string.ascii_letters + string.digits
Gen = Callable[[random.Random], str]


def _rand(r: random.Random, alphabet: str, n: int) -> str:
    """Random string that mixes letters and digits (as real keys do)."""
    while True:
        value = "".join(r.choice(alphabet) for _ in range(n))
        if any(c.isdigit() for c in value) and any(c.isalpha() for c in value):
            return value


def _digits(r: random.Random, n: int) -> str:
    return "".join(r.choice(string.digits) for _ in range(n))


# --- valid values --------------------------------------------------------------------------

FIRST = ["jane", "john", "alex", "maria", "li", "omar", "sara", "tom", "ana", "kofi", "yuki"]
LAST = ["doe", "smith", "garcia", "chen", "okafor", "novak", "tanaka", "silva", "brown"]
DOMAINS = ["example.com", "example.org", "example.net", "mail.example.com", "corp.example.org"]
AREAS = ["202", "212", "312", "415", "617", "713", "808", "917", "303", "503"]


def email(r: random.Random) -> str:
    sep = r.choice([".", "_", "", "-", "+news."])
    suffix = str(r.randint(0, 99)) if r.random() < 0.3 else ""
    return f"{r.choice(FIRST)}{sep}{r.choice(LAST)}{suffix}@{r.choice(DOMAINS)}"


def phone(r: random.Random) -> str:
    area, line = r.choice(AREAS), f"01{r.randint(0, 99):02d}"
    four = f"{r.randint(1000, 9999)}"
    formats = [
        f"({area}) 555-{line}",
        f"{area}-555-{line}",
        f"{area}.555.{line}",
        f"+1 {area} 555 {line}",
        f"+1-{area}-555-{line}",
        f"1-{area}-555-{line}",
        f"+44 20 7946 0{r.randint(0, 999):03d}",
        f"+44 113 496 0{r.randint(0, 999):03d}",
        f"+61 2 5550 {four}",
        f"+49 30 {r.randint(1000000, 9999999)}",
        f"+33 1 99 00 {r.randint(10, 99)} {r.randint(10, 99)}",
        f"+81 3-{four}-{r.randint(1000, 9999)}",
    ]
    return r.choice(formats)


def ssn(r: random.Random) -> str:
    area = r.choice([a for a in range(1, 900) if a != 666])
    sep = r.choice(["-", "-", " "])
    return f"{area:03d}{sep}{r.randint(1, 99):02d}{sep}{r.randint(1, 9999):04d}"


CARD_PREFIXES = [
    ("4", 16), ("4", 13), ("51", 16), ("55", 16), ("2221", 16), ("2720", 16), ("34", 15),
    ("37", 15), ("6011", 16), ("65", 16), ("3530", 16), ("36", 14), ("62", 16),
]  # fmt: skip


def card_digits(r: random.Random) -> str:
    prefix, length = r.choice(CARD_PREFIXES)
    body = prefix + _digits(r, length - len(prefix) - 1)
    return body + luhn_check_digit(body)


def group_card(digits: str, sep: str) -> str:
    if len(digits) == 15:
        parts = [digits[:4], digits[4:10], digits[10:]]
    else:
        parts = [digits[i : i + 4] for i in range(0, len(digits), 4)]
    return sep.join(parts)


def card(r: random.Random) -> str:
    return group_card(card_digits(r), r.choice([" ", "-", ""]))


#: country -> (letters, digits) of the BBAN
IBAN_SHAPES = {
    "DE": (0, 18), "GB": (4, 14), "FR": (0, 23), "NL": (4, 10), "ES": (0, 20), "IT": (1, 22),
    "CH": (0, 17), "BE": (0, 12), "AT": (0, 16), "PL": (0, 24), "NO": (0, 11), "IE": (4, 14),
}  # fmt: skip


def iban_compact(r: random.Random, country: str | None = None) -> str:
    country = country or r.choice(sorted(IBAN_SHAPES))
    letters, digits = IBAN_SHAPES[country]
    bban = "".join(r.choice(string.ascii_uppercase) for _ in range(letters)) + _digits(r, digits)
    return country + iban_checksum(country, bban) + bban


def spaced(value: str) -> str:
    return " ".join(value[i : i + 4] for i in range(0, len(value), 4))


def iban(r: random.Random) -> str:
    value = iban_compact(r)
    return spaced(value) if r.random() < 0.5 else value


def ipv4(r: random.Random) -> str:
    prefix = r.choice(["192.0.2", "198.51.100", "203.0.113", "10.0.0", "172.16.4", "192.168.1"])
    return f"{prefix}.{r.randint(1, 254)}"


def ipv6(r: random.Random) -> str:
    g = [f"{r.randint(0, 0xFFFF):x}" for _ in range(6)]
    forms = [
        f"2001:db8:{':'.join(g)}",
        f"2001:db8::{g[0]}:{g[1]}",
        f"2001:0db8:85a3::8a2e:0370:{r.randint(1000, 9999)}",
        f"fe80::{g[2]}:{g[3]}:1",
    ]
    return r.choice(forms)


def openai_key(r: random.Random) -> str:
    return r.choice(["sk-", "sk-proj-"]) + _rand(r, ALNUM + "_-", r.choice([32, 48, 64]))


def github_token(r: random.Random) -> str:
    if r.random() < 0.25:
        return "github_pat_" + _rand(r, ALNUM, 22) + "_" + _rand(r, ALNUM, 59)
    return r.choice(["ghp_", "gho_", "ghs_"]) + _rand(r, ALNUM, 36)


def aws_access_key(r: random.Random) -> str:
    return "AKIA" + _rand(r, string.ascii_uppercase + string.digits, 16)


def aws_secret_key(r: random.Random) -> str:
    while True:
        value = _rand(r, ALNUM + "/+", 40)
        if any(c.islower() for c in value) and any(c.isupper() for c in value):
            return value


def slack_token(r: random.Random) -> str:
    return f"xoxb-{_digits(r, 11)}-{_digits(r, 11)}-{_rand(r, ALNUM, 24)}"


def stripe_key(r: random.Random) -> str:
    return r.choice(["sk_live_", "sk_test_", "rk_live_"]) + _rand(r, ALNUM, 24)


def google_api_key(r: random.Random) -> str:
    return "AIza" + _rand(r, ALNUM + "_-", 35)


def _b64(obj: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


def jwt(r: random.Random) -> str:
    header = _b64({"alg": r.choice(["HS256", "RS256"]), "typ": "JWT"})
    payload = _b64({"sub": str(r.randint(1, 10**6)), "name": r.choice(FIRST), "iat": 1700000000})
    return f"{header}.{payload}.{_rand(r, ALNUM + '_-', 43)}"


def url_password(r: random.Random) -> str:
    scheme = r.choice(["postgres", "mysql", "redis", "https", "amqp", "ftp"])
    secret = _rand(r, ALNUM + "!*", 14)
    return f"{scheme}://{r.choice(FIRST)}:{secret}@db.example.com:5432/app"


def password_assignment(r: random.Random) -> str:
    key = r.choice(["password", "db_password", "PASSWORD", "admin_pass"])
    value = _rand(r, ALNUM + "#!%&", 16)
    return r.choice([f'{key} = "{value}"', f"{key}={value}", f"{key}: '{value}'"])


GENERATORS: dict[str, Gen] = {
    "email": email,
    "phone": phone,
    "ssn": ssn,
    "credit_card": card,
    "iban": iban,
    "ipv4": ipv4,
    "ipv6": ipv6,
    "openai_key": openai_key,
    "github_token": github_token,
    "aws_access_key": aws_access_key,
    "slack_token": slack_token,
    "stripe_key": stripe_key,
    "google_api_key": google_api_key,
    "jwt": jwt,
    "url_password": url_password,
    "password_assignment": password_assignment,
}

TEMPLATES = {
    "email": ["Please reply to {} by Friday.", "Contact: {}", "cc {} on the thread", "To: <{}>."],
    "phone": ["Call me at {} after 5pm.", "Phone: {}", "Our support line is {}.", "mobile {}"],
    "ssn": ["SSN {} on file.", "Social security number: {}", "Applicant SSN: {}"],
    "credit_card": ["Charge card {} for the order.", "card number {} exp 12/29", "Paid with {}."],
    "iban": ["Wire the refund to IBAN {}.", "Account: {}", "Beneficiary IBAN {} (EUR)"],
    "ipv4": ["Login from {} was blocked.", "server at {} port 22", "client_ip={}"],
    "ipv6": ["Reached host {} over IPv6.", "peer address {}", "bind [{}]:443"],
    "openai_key": ["OPENAI_API_KEY={}", "use key {} for the batch job", "export OPENAI_KEY='{}'"],
    "github_token": ["token {} pushed to CI", "GH_TOKEN={}", "Authorization: token {}"],
    "aws_access_key": ["aws_access_key_id = {}", "the key {} was rotated", "AWS key: {}"],
    "slack_token": ["SLACK_BOT_TOKEN={}", "bot uses {}"],
    "stripe_key": ["STRIPE_SECRET={}", "charge with key {}"],
    "google_api_key": ["maps key {}", "GOOGLE_API_KEY={}"],
    "jwt": ["Authorization: Bearer {}", "session cookie {}"],
    "url_password": ["DATABASE_URL={}", "connect to {} for reports"],
    "password_assignment": ["{}", "config: {}"],
}

CLEAN = [
    "The meeting moved to Thursday at 3pm in room B.",
    "Deploy finished in 42 seconds with 0 errors.",
    "Refactor the parser so that it streams tokens lazily.",
    "We shipped 1,250 units in Q3, up 12% on Q2.",
    "The cat sat on the mat and ignored everyone.",
    "Version 2 of the API drops the legacy endpoints.",
    "Use a binary heap for the scheduler's ready queue.",
    "Temperature today: 21.5 C, humidity 40%.",
    "See chapter 7, pages 120-135, for the proof.",
    "Run pytest -q and check that all tests pass.",
    "The build cache lives under ~/.cache/octollm.",
    "Set retries to 3 and the backoff base to 0.5s.",
    "Our office is closed on public holidays.",
    "Prices start at $19.99 per month.",
    "The quick brown fox jumps over the lazy dog.",
    "Merge request 4821 was approved by two reviewers.",
    "Add an index on (tenant_id, created_at) to speed up listing.",
    "The median latency dropped from 180 ms to 95 ms.",
    "Read the design notes before changing the planner.",
    "Keep modules under 400 lines where practical.",
]

#: Real PII in forms the detectors are known to miss; kept so that recall is measured, not
#: assumed. (label, what, text)
HARD = [
    ("phone", "bare-digits-no-context", "reach me on 2025550143 tonight"),
    ("phone", "spelled-out", "my number is two oh two, five five five, oh one four three"),
    ("email", "unicode-local-part", "write to jos\u00e9.garcia@example.com"),
    ("email", "obfuscated", "jane [at] example [dot] com"),
    ("credit_card", "mixed-separators", "card 4111-1111 1111-1111 on file"),
    ("ssn", "bare-digits-no-context", "her number 123456789 is on the form"),
    ("ipv4", "glued-to-word", "hostaddr=192.0.2.10x"),
    ("iban", "lowercase", "iban gb82 west 1234 5698 7654 32"),
]

# --- look-alikes: each must produce no finding -------------------------------------------

LOOKALIKES: list[tuple[str, Gen]] = []


def lookalike(name: str) -> Callable[[Gen], Gen]:
    def register(fn: Gen) -> Gen:
        LOOKALIKES.append((name, fn))
        return fn

    return register


@lookalike("non-luhn-card")
def _non_luhn(r: random.Random) -> str:
    digits = card_digits(r)
    bad = digits[:-1] + str((int(digits[-1]) + r.randint(1, 9)) % 10)
    return f"Card {group_card(bad, r.choice([' ', '-', '']))} was declined."


@lookalike("no-issuer-card")
def _no_issuer(r: random.Random) -> str:
    body = r.choice("1789") + _digits(r, 14)
    return f"Tracking number {body + luhn_check_digit(body)} shipped."


@lookalike("bad-iban-checksum")
def _bad_iban(r: random.Random) -> str:
    value = iban_compact(r)
    check = (int(value[2:4]) + r.randint(1, 50)) % 97 + 2
    bad = value[:2] + f"{check:02d}" + value[4:]
    bad = bad if bad != value else value[:2] + "00" + value[4:]
    return f"IBAN {spaced(bad) if r.random() < 0.5 else bad} failed validation."


@lookalike("bad-iban-length")
def _bad_iban_length(r: random.Random) -> str:
    value = iban_compact(r, "DE")
    return f"Reference DE{value[2:]}{r.randint(0, 9)} is not an account."


@lookalike("ssn-bad-area")
def _bad_ssn(r: random.Random) -> str:
    area = r.choice(["000", "666", f"9{r.randint(0, 99):02d}"])
    return f"Test SSN {area}-{r.randint(10, 99)}-{r.randint(1000, 9999)} is invalid by design."


@lookalike("ssn-zero-group-or-serial")
def _bad_ssn_group(r: random.Random) -> str:
    area = r.randint(100, 599)
    return r.choice(
        [f"Ticket {area}-00-{r.randint(1000, 9999)}", f"Part {area}-{r.randint(10, 99)}-0000"]
    )


@lookalike("ip-octet-over-255")
def _bad_ip(r: random.Random) -> str:
    octets = [r.randint(0, 255) for _ in range(4)]
    octets[r.randrange(4)] = r.randint(256, 999)
    return f"Bad address {'.'.join(map(str, octets))} rejected by the parser."


@lookalike("version-string")
def _version(r: random.Random) -> str:
    parts = ".".join(str(r.randint(0, 20)) for _ in range(r.choice([5, 6])))
    four = ".".join(str(r.randint(0, 30)) for _ in range(4))
    return r.choice(
        [f"Upgraded libfoo to {parts} yesterday.", f"build {parts} is green", f"Running v{four}"]
    )


@lookalike("order-number")
def _order(r: random.Random) -> str:
    a, b, c = r.randint(200, 999), r.randint(200, 999), r.randint(1000, 9999)
    return r.choice(
        [
            f"Order #{r.randint(100, 199)}-{b}-{c} has shipped.",
            f"Order number {a}{b}{c} confirmed.",
            f"Invoice INV-{a}-{b}-{c} is due.",
            f"Ref {a}-{r.randint(100, 199)}-{c} closed.",
            f"Batch {a}-{b}-{c}-{r.randint(10, 99)} queued.",
        ]
    )


@lookalike("date-time")
def _date(r: random.Random) -> str:
    day = f"{r.randint(2019, 2026)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}"
    clock = f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}"
    return f"Logged at {day} {clock} UTC."


@lookalike("isbn-zip")
def _isbn(r: random.Random) -> str:
    isbn = f"ISBN 978-0-{r.randint(100, 999)}-{r.randint(10000, 99999)}-{r.randint(0, 9)}"
    return r.choice([isbn, f"Ship to ZIP {r.randint(10000, 99999)}-{r.randint(1000, 9999)}."])


@lookalike("hash-uuid")
def _hash(r: random.Random) -> str:
    sha = "".join(r.choice("0123456789abcdef") for _ in range(40))
    h = r.randbytes(16).hex()
    return r.choice([f"commit {sha}", f"id {h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"])


@lookalike("email-like")
def _email_like(r: random.Random) -> str:
    return r.choice(
        [
            "ping admin@localhost on the box",
            "asset icon@2x.png is missing",
            f"mention @{r.choice(FIRST)} in the channel",
            f"write to {r.choice(FIRST)} at example dot com",
            "decorator @property on the method",
            "npm install left-pad@1.3.0",
        ]
    )


@lookalike("key-like")
def _key_like(r: random.Random) -> str:
    return r.choice(
        [
            "We use sk-learn for the baseline model.",
            "prefix sk-this-is-not-a-real-key-at-all",
            "AKIA1234 is too short to be a key",
            "ghp_short token placeholder",
            "xoxb-not-a-token",
            "AIzaShort",
            "eyJhbGciOiJub25lIn0 alone is only a header",
            "Set STRIPE key to sk_live_... in production",
        ]
    )


@lookalike("placeholder-password")
def _placeholder(r: random.Random) -> str:
    return r.choice(
        [
            'password = "changeme"',
            "password=os.environ['DB_PASSWORD']",
            "postgres://user:${DB_PASSWORD}@db.example.com/app",
            'PASSWORD = "<your-password>"',
            "password: str",
            "https://user:****@example.com/",
            "password=user_password",
            "redis://:@localhost:6379/0",
            "api_key = get_api_key()",
        ]
    )


@lookalike("ipv6-like")
def _ipv6_like(r: random.Random) -> str:
    clock = f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}"
    return r.choice(
        [
            f"Time {clock} sharp",
            "MAC 00:1A:2B:3C:4D:5E on eth0",
            "std::vector<int> v;",
            "use Foo::Bar::baz()",
            "ratio 16:9:4 screens",
        ]
    )


@lookalike("non-personal-ip")
def _loopback(r: random.Random) -> str:
    host = r.choice(["127.0.0.1", "0.0.0.0", "255.255.255.255", f"127.0.{r.randint(0, 9)}.1"])
    return f"bind the dev server to {host}:{r.randint(1024, 9999)}"


@lookalike("bare-ten-digits")
def _bare_digits(r: random.Random) -> str:
    return f"Account {r.randint(2, 9)}{r.randint(10, 99)}{r.randint(200, 999)}{_digits(r, 4)} ok."


# --- assembling the set ------------------------------------------------------------------


def positive_line(r: random.Random, types: list[str]) -> tuple[list[str], str]:
    parts = [r.choice(TEMPLATES[kind]).format(GENERATORS[kind](r)) for kind in types]
    return sorted(set(types)), " ".join(parts)


def aws_secret_line(r: random.Random) -> tuple[list[str], str]:
    key, secret = aws_access_key(r), aws_secret_key(r)
    text = r.choice(
        [
            f"aws_access_key_id={key} aws_secret_access_key={secret}",
            f'AWS_SECRET_ACCESS_KEY="{secret}" for {key}',
        ]
    )
    return ["aws_access_key", "aws_secret_key"], text


def build() -> list[tuple[str, str, str]]:
    r = random.Random(SEED)
    rows: list[tuple[str, str, str]] = []
    kinds = sorted(GENERATORS)
    for kind in kinds:  # every type alone, several times
        for _ in range(6):
            labels, text = positive_line(r, [kind])
            rows.append((",".join(labels), "pii", text))
    for _ in range(6):
        labels, text = aws_secret_line(r)
        rows.append((",".join(labels), "pii", text))
    for _ in range(60):  # mixtures of two or three types
        labels, text = positive_line(r, r.sample(kinds, r.choice([2, 2, 3])))
        rows.append((",".join(labels), "pii", text))
    for name, make in LOOKALIKES:  # look-alikes alone
        for _ in range(8):
            rows.append(("none", f"lookalike:{name}", make(r)))
    for name, make in LOOKALIKES:  # look-alikes beside real PII
        for _ in range(2):
            labels, text = positive_line(r, [r.choice(kinds)])
            rows.append((",".join(labels), f"lookalike:{name}", f"{text} {make(r)}"))
    for label, what, text in HARD:
        rows.append((label, f"hard:{what}", text))
    for sentence in CLEAN:
        rows.append(("none", "clean", sentence))
        rows.append(("none", "clean", f"{sentence} {r.choice(CLEAN)}"))
    r.shuffle(rows)
    for _, _, text in rows:
        if "\t" in text or "\n" in text:
            raise ValueError(f"a line would break the TSV: {text!r}")
    return rows


def render(rows: list[tuple[str, str, str]]) -> str:
    lines = ["labels\tnote\ttext"] + ["\t".join(row) for row in rows]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    rows = build()
    OUT.write_text(render(rows), encoding="utf-8")
    print(f"wrote {OUT} ({len(rows)} rows)")
