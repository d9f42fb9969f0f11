"""SSRF guard for webhook targets: decide where a URL may be delivered, before connecting.

``resolve_target(url, allowlist)`` parses the URL, refuses odd IP spellings (decimal
``2130706433``, octal ``0177.0.0.1``, hex ``0x7f.1``, short ``127.1``), resolves the host and
checks *every* address: loopback, private (RFC 1918, ULA), link-local, CGNAT 100.64.0.0/10,
multicast, reserved, unspecified and cloud metadata addresses are refused. A ``host:port`` in
the allowlist skips the address checks (the tests' loopback receiver; an in-cluster service).

**IPv6 that embeds an IPv4 address** is refused in every form, whatever the IPv4 is: the
guard finds the embedded address first and names it (``::127.0.0.1`` is "an IPv4-compatible
address embedding 127.0.0.1, a loopback address"), so the classification of the inner address
is the one the IPv4 check would give. The forms (``EMBEDDED_FORMS``): IPv4-compatible
``::a.b.c.d`` (::/96), IPv4-mapped ``::ffff:a.b.c.d``, IPv4-translated ``::ffff:0:a.b.c.d``,
NAT64 ``64:ff9b::/96`` and the local-use ``64:ff9b:1::/48`` (RFC 6052 layout), 6to4
``2002::/16`` and Teredo ``2001::/32`` (server and obfuscated client). A host may route such
an address to the IPv4 inside (SIIT, NAT64, a 6to4 or Teredo relay, dual-stack sockets), so
none is a safe way to name a public target: use the IPv4 address or a name.

The caller connects to the returned, checked address (not to the name again), so a DNS
answer that changes between check and connect (rebinding) cannot redirect the request.
Redirects are never followed.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from octollm.errors import InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]

BLOCKED_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
        "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
        "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
        "255.255.255.255/32",
        "::/128", "::1/128", "::ffff:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64",
        "2001::/32", "2001:db8::/32", "2002::/16", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
    )
)  # fmt: skip
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254")
)
_NUMERIC_LABEL = re.compile(r"^(\d+|0[xX][0-9a-fA-F]*)$")
_DOTTED_QUAD = re.compile(
    r"^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$"
)


class UnsafeWebhookTarget(InvalidInput):
    code = "WEBHOOK_TARGET_REFUSED"


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    address: str
    allowlisted: bool


def system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UnsafeWebhookTarget(
            f"cannot resolve {host!r}: {exc.strerror}",
            details={"reason": "unresolvable", "host": host},
        ) from None
    except (UnicodeError, ValueError):  # an unencodable name (IDNA) or a NUL byte
        raise UnsafeWebhookTarget(
            f"host {host!r} is not a valid host name",
            details={"reason": "invalid_host", "host": host},
        ) from None
    return [str(info[4][0]) for info in infos]


_V4 = ipaddress.IPv4Address
_N6 = ipaddress.IPv6Network


def _bits(address: ipaddress.IPv6Address, start: int, length: int) -> int:
    return (int(address) >> (128 - start - length)) & ((1 << length) - 1)


def _last32(a: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    return [_V4(_bits(a, 96, 32))]


def _rfc6052_48(a: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """A /48 NAT64 prefix: IPv4 bits 48..63 and 72..87 (bits 64..71 are the zero u-octet)."""
    return [_V4((_bits(a, 48, 16) << 16) | _bits(a, 72, 16)), _V4(_bits(a, 96, 32))]


def _sixtofour(a: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    return [_V4(_bits(a, 16, 32))]


def _teredo(a: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The Teredo server (bits 32..63) and the client (the last 32 bits, inverted)."""
    return [_V4(_bits(a, 32, 32)), _V4(_bits(a, 96, 32) ^ 0xFFFFFFFF)]


#: Where IPv6 embeds IPv4, most specific first; each with the IPv4 address(es) it carries.
EMBEDDED_FORMS: tuple[
    tuple[str, ipaddress.IPv6Network, Callable[[ipaddress.IPv6Address], list[_V4]]], ...
] = (
    ("IPv4-mapped", _N6("::ffff:0:0/96"), _last32),
    ("IPv4-translated", _N6("::ffff:0:0:0/96"), _last32),
    ("IPv4-compatible", _N6("::/96"), _last32),
    ("NAT64", _N6("64:ff9b::/96"), _last32),
    ("local-use NAT64", _N6("64:ff9b:1::/48"), _rfc6052_48),
    ("6to4", _N6("2002::/16"), _sixtofour),
    ("Teredo", _N6("2001::/32"), _teredo),
)


def embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[str, list[ipaddress.IPv4Address]] | None:
    """The form name and the IPv4 address(es) an IPv6 address embeds, or None."""
    plain = ipaddress.IPv6Address(int(address))  # without a zone id
    if plain in (ipaddress.IPv6Address("::"), ipaddress.IPv6Address("::1")):
        return None  # the unspecified and loopback addresses, refused by the table
    for name, network, extract in EMBEDDED_FORMS:
        if plain in network:
            return name, extract(plain)
    return None


def _ipv4_problem(address: ipaddress.IPv4Address) -> str:
    return address_problem(address) or "a public address"


def address_problem(address: IPAddress) -> str | None:
    """Why ``address`` may not be a webhook target, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = embedded_ipv4(address)
        if embedded is not None:
            name, inner = embedded
            said = " and ".join(f"{v4} ({_ipv4_problem(v4)})" for v4 in inner)
            article = "an" if name.startswith("IPv4") else "a"
            return f"{article} {name} address embedding {said}; use the IPv4 address or a name"
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    for network in BLOCKED_NETWORKS:
        if address.version == network.version and address in network:
            return f"in the non-public range {network}"
    if not address.is_global:
        return "not a public address"
    return None


def _literal(host: str) -> IPAddress | None:
    """The IP a host spells, refusing every non-canonical IPv4 spelling.

    As browsers do (WHATWG URL), a host whose last label is numeric (``1``, ``0x7f``) is an
    IPv4 address; only the canonical dotted quad is accepted.
    """
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host.strip("[]"))
        except ValueError:
            raise UnsafeWebhookTarget(
                f"host {host!r} is not a valid IPv6 address",
                details={"reason": "invalid_host", "host": host},
            ) from None
    last = host.split(".")[-1]
    if _NUMERIC_LABEL.match(last):
        if not _DOTTED_QUAD.match(host):
            raise UnsafeWebhookTarget(
                f"host {host!r} is a non-canonical IP spelling",
                details={"reason": "non_canonical_ip", "host": host},
            )
        return ipaddress.IPv4Address(host)
    return None


def resolve_target(
    url: str,
    allowlist: Sequence[str] = (),
    *,
    resolver: Resolver = system_resolver,
    allow_http: bool = True,
) -> Target:
    """Check ``url`` and pick the address to connect to. Raises ``UnsafeWebhookTarget``."""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        raise UnsafeWebhookTarget("the webhook URL cannot be parsed") from None
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes:
        raise UnsafeWebhookTarget(
            f"scheme {parts.scheme!r} is not allowed (use {' or '.join(schemes)})",
            details={"reason": "scheme", "scheme": parts.scheme, "allowed": list(schemes)},
        )
    if parts.username or parts.password:
        raise UnsafeWebhookTarget("credentials in webhook URLs are not allowed")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise UnsafeWebhookTarget("the webhook URL has no host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UnsafeWebhookTarget("the webhook URL has an invalid port") from None
    allowlisted = f"{host}:{port}" in {a.lower() for a in allowlist}
    literal = _literal(host)
    addresses = [str(literal)] if literal is not None else list(resolver(host, port))
    if not addresses:
        raise UnsafeWebhookTarget(
            f"{host!r} resolved to no address", details={"reason": "unresolvable", "host": host}
        )
    if not allowlisted:
        for raw in addresses:
            problem = address_problem(ipaddress.ip_address(raw.split("%", 1)[0]))
            if problem:
                raise UnsafeWebhookTarget(
                    f"{host!r} resolves to {raw}, {problem}",
                    details={
                        "reason": "non_public_address",
                        "host": host,
                        "address": raw,
                        "problem": problem,
                    },
                )
    return Target(parts.scheme, host, port, addresses[0], allowlisted)
