"""Credentials: provider API keys and tokens, JWTs, passwords in URLs, private key blocks and
``password=``/``secret=`` assignments with high-entropy values.

Two detector sets:

* ``TOKEN_DETECTORS`` - credentials with a recognisable shape (``sk-``, ``ghp_``, ``AKIA``...),
  passwords in URLs and JWTs. They run with the ``pii`` check as well, as OctoLLM's reflex
  layer treats API keys as PII;
* ``GENERIC_DETECTORS`` - private key blocks and secret-looking assignments (``secrets`` check).

Every secret is critical risk. Messages show at most a provider's public prefix.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator

from octollm.arms.safety.finding import Detector, Finding, Risk
from octollm.arms.safety.redaction import secret_mask
from octollm.arms.safety.validators import shannon_entropy

_LABELS = {
    "openai_key": "OpenAI API key",
    "github_token": "GitHub token",
    "aws_access_key": "AWS access key id",
    "aws_secret_key": "AWS secret access key",
    "slack_token": "Slack token",
    "stripe_key": "Stripe secret key",
    "google_api_key": "Google API key",
    "jwt": "JSON Web Token",
    "url_password": "password in URL",
    "private_key": "private key block",
    "password_assignment": "hard-coded password",
    "secret_assignment": "hard-coded secret",
}


def _secret(subtype: str, text: str, start: int, end: int, confidence: float = 1.0) -> Finding:
    shown = secret_mask(subtype, text[start:end])
    message = f"{_LABELS[subtype]} detected: {shown}"
    return Finding("secret", subtype, Risk.CRITICAL, start, end, confidence, message)


def _mixed(value: str) -> bool:
    """Real keys mix letters and digits; ``sk-this-is-a-placeholder`` does not."""
    return any(c.isdigit() for c in value) and any(c.isalpha() for c in value)


# --- provider tokens ---------------------------------------------------------------------

#: (subtype, literal every match contains, pattern); group 1 holds the random body whose
#: mix and entropy are checked. The literal lets most texts skip the regex altogether.
_SHAPES: tuple[tuple[str, tuple[str, ...], re.Pattern[str]], ...] = tuple(
    (subtype, needles, re.compile(pattern))
    for subtype, needles, pattern in (
        ("openai_key", ("sk-",), r"(?<![\w-])sk-(?:proj-|svcacct-|admin-)?([\w-]{20,})(?![\w-])"),
        ("github_token", ("gh",), r"(?<!\w)gh[pousr]_([A-Za-z0-9]{36,255})(?!\w)"),
        ("github_token", ("github_pat_",), r"(?<!\w)github_pat_([A-Za-z0-9_]{50,255})(?!\w)"),
        ("aws_access_key", ("AKIA", "ASIA"), r"(?<![^\W_])(?:AKIA|ASIA)([A-Z0-9]{16})(?![^\W_])"),
        ("slack_token", ("xox",), r"(?<![\w-])xox[bpas]-([A-Za-z0-9-]{10,250})(?![\w-])"),
        (
            "stripe_key",
            ("_live_", "_test_"),
            r"(?<!\w)[sr]k_(?:live|test)_([A-Za-z0-9]{16,247})(?!\w)",
        ),
        ("google_api_key", ("AIza",), r"(?<![\w-])AIza([0-9A-Za-z_-]{35})(?![\w-])"),
    )
)

_AWS_SECRET = re.compile(
    r"(?i)aws[\w.-]{0,20}?(?:secret|sk)[\w.-]{0,20}[\"']?\s*(?::=|=>|=|:)\s*[\"']?"
    r"(?-i:([A-Za-z0-9/+]{40}))(?![A-Za-z0-9/+=])"
)
_JWT = re.compile(
    r"(?<![\w-])(eyJ[A-Za-z0-9_-]{8,})\.(eyJ[A-Za-z0-9_-]{4,})\.([A-Za-z0-9_-]{0,1024})(?![\w-])"
)
_URL_PASSWORD = re.compile(
    r"\b[A-Za-z][A-Za-z0-9+.-]{1,15}://([^\s:/@?#\"'<>]*):([^\s/@?#\"'<>]+)@"
    r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])"
)
_PLACEHOLDER = re.compile(
    r"(?i)^(?:\*+|x{3,}|\.{3}|<[^>]*>|\{+[^}]*\}+|\$\{?[\w.]+\}?|%\(\w+\)s|%s|\[[^\]]*\]"
    r"|pass(?:word)?|secret|your[_-]?\w*|placeholder|redacted|example\w*|dummy|\?+)$"
)


def detect_provider_tokens(text: str) -> Iterator[Finding]:
    for subtype, needles, pattern in _SHAPES:
        if not any(needle in text for needle in needles):
            continue
        for m in pattern.finditer(text):
            if _mixed(m.group(1)) and shannon_entropy(m.group(1)) >= 3.0:
                yield _secret(subtype, text, m.start(), m.end())
    for m in _AWS_SECRET.finditer(text):
        key = m.group(1)
        if any(c.islower() for c in key) and any(c.isupper() for c in key) and _mixed(key):
            yield _secret("aws_secret_key", text, m.start(1), m.end(1))


def _b64json(segment: str) -> object:
    padded = segment + "=" * (-len(segment) % 4)
    try:
        return json.loads(base64.urlsafe_b64decode(padded))
    except (binascii.Error, ValueError):
        return None


def detect_jwt(text: str) -> Iterator[Finding]:
    for m in _JWT.finditer(text):
        header = _b64json(m.group(1))
        if isinstance(header, dict) and "alg" in header and isinstance(_b64json(m.group(2)), dict):
            yield _secret("jwt", text, m.start(), m.end())


def detect_url_password(text: str) -> Iterator[Finding]:
    for m in _URL_PASSWORD.finditer(text):
        if not _PLACEHOLDER.match(m.group(2)):
            yield _secret("url_password", text, m.start(2), m.end(2), 0.95)


# --- generic secrets ---------------------------------------------------------------------

_PRIVATE_KEY = re.compile(
    r"-----BEGIN ((?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?)-----"
    r"(?:[\s\S]{0,16384}?-----END \1-----)?"
)
_CREDENTIAL_NAME = (
    r"[\w.-]*?(?:password|passwd|passphrase|(?<![a-z])pass(?![a-z])|pwd|secret|token"
    r"|api[_-]?key|apikey|access[_-]?key|auth[_-]?key|private[_-]?key|credentials?)[\w-]*"
)
_ASSIGNMENT = re.compile(
    rf"(?i)(?<![\w.-])({_CREDENTIAL_NAME})[\"']?\s*(?::=|=>|=|:)\s*([\"']?)"
    r"([^\s\"'`,;)}\]]{8,200})\2"
)
_PASSWORD_NAME = re.compile(r"(?i)pass|pwd")
_SECRET_NAME = re.compile(rf"(?i)^{_CREDENTIAL_NAME}$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*$")
_MIN_ENTROPY = 3.0


def secret_value(value: str, *, quoted: bool) -> bool:
    """Does ``value`` look like a real secret rather than a placeholder or a reference?"""
    if len(value) < 8 or _PLACEHOLDER.match(value) or value[0] in "$%{<":
        return False
    if "(" in value or "[" in value:  # a call or a lookup: ``os.environ["PW"]``
        return False
    if not quoted and _IDENTIFIER.match(value) and not any(c.isdigit() for c in value):
        return False  # ``password=user_password``: a variable, not a literal
    lowered = value.lower()
    if any(word in lowered for word in ("example", "placeholder", "changeme", "redacted", "xxxx")):
        return False
    return shannon_entropy(value) >= _MIN_ENTROPY


def is_secret_name(name: str) -> bool:
    """Does a variable or key called ``name`` conventionally hold a credential?"""
    return bool(_SECRET_NAME.match(name))


def _assignment_subtype(name: str) -> str:
    return "password_assignment" if _PASSWORD_NAME.search(name) else "secret_assignment"


def detect_private_key(text: str) -> Iterator[Finding]:
    for m in _PRIVATE_KEY.finditer(text):
        yield _secret("private_key", text, m.start(), m.end())


def detect_assignments(text: str) -> Iterator[Finding]:
    for m in _ASSIGNMENT.finditer(text):
        name, quote, value = m.group(1), m.group(2), m.group(3)
        if secret_value(value, quoted=bool(quote)):
            yield _secret(_assignment_subtype(name), text, m.start(3), m.end(3), 0.8)


def keyed_secret(key: str, value: str) -> Finding | None:
    """A secret held in a structure under a telling key, e.g. ``{"password": "..."}``."""
    if is_secret_name(key) and secret_value(value, quoted=True):
        return _secret(_assignment_subtype(key), value, 0, len(value), 0.8)
    return None


TOKEN_DETECTORS: tuple[Detector, ...] = (detect_provider_tokens, detect_jwt, detect_url_password)
GENERIC_DETECTORS: tuple[Detector, ...] = (detect_private_key, detect_assignments)
