"""SSRF guard for webhook targets: decide where a URL may be delivered, before connecting.

``resolve_target(url, allowlist)`` parses the URL, refuses odd IP spellings (decimal
``2130706433``, octal ``0177.0.0.1``, hex ``0x7f.1``, short ``127.1``), resolves the host and
checks *every* address: loopback, private (RFC 1918, ULA), link-local, CGNAT 100.64.0.0/10,
NAT64 64:ff9b::/96, 6to4/Teredo, multicast, reserved, unspecified and cloud metadata
addresses are refused, as are IPv4-mapped IPv6 spellings of them. A ``host:port`` in the
allowlist skips the address checks (the tests' loopback receiver; an in-cluster service).

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
        raise UnsafeWebhookTarget(f"cannot resolve {host!r}: {exc.strerror}") from None
    except (UnicodeError, ValueError):  # an unencodable name (IDNA) or a NUL byte
        raise UnsafeWebhookTarget(f"host {host!r} is not a valid host name") from None
    return [str(info[4][0]) for info in infos]


def address_problem(address: IPAddress) -> str | None:
    """Why ``address`` may not be a webhook target, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour
        if mapped is not None:
            inner = address_problem(mapped)
            return inner or "an IPv4 address in IPv6 clothing"
        if address.teredo is not None:
            return "a Teredo address"
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
            raise UnsafeWebhookTarget(f"host {host!r} is not a valid IPv6 address") from None
    last = host.split(".")[-1]
    if _NUMERIC_LABEL.match(last):
        if not _DOTTED_QUAD.match(host):
            raise UnsafeWebhookTarget(f"host {host!r} is a non-canonical IP spelling")
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
            f"scheme {parts.scheme!r} is not allowed (use {' or '.join(schemes)})"
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
        raise UnsafeWebhookTarget(f"{host!r} resolved to no address")
    if not allowlisted:
        for raw in addresses:
            problem = address_problem(ipaddress.ip_address(raw.split("%", 1)[0]))
            if problem:
                raise UnsafeWebhookTarget(f"{host!r} resolves to {raw}, {problem}")
    return Target(parts.scheme, host, port, addresses[0], allowlisted)
