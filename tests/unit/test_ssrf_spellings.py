"""Property: however an embedded-IPv4 IPv6 address is spelled, the SSRF guard refuses it.

Hypothesis draws an IPv4 address (any, and often a non-public one), an embedding form, and a
spelling of the resulting IPv6 address (compressed, exploded, leading zeros dropped or kept,
upper or lower case, the last 32 bits as a dotted quad), and puts it in a URL. The guard must
refuse it without asking the resolver, naming the embedded IPv4 address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from octollm.webhooks.ssrf import UnsafeWebhookTarget, resolve_target

V4 = ipaddress.IPv4Address
V6 = ipaddress.IPv6Address

NON_PUBLIC = [
    ipaddress.ip_network(n)
    for n in (
        "127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16",
        "100.64.0.0/10", "0.0.0.0/8", "224.0.0.0/4",
    )
]  # fmt: skip


def never_called(host: str, port: int) -> Sequence[str]:
    raise AssertionError(f"the resolver must not be asked about {host}")


@st.composite
def ipv4s(draw: st.DrawFn) -> V4:
    if draw(st.booleans()):
        net = draw(st.sampled_from(NON_PUBLIC))
        return V4(int(net.network_address) + draw(st.integers(0, net.num_addresses - 1)))
    return V4(draw(st.integers(0, 2**32 - 1)))


def _rfc6052_48(v4: int, suffix: int) -> int:
    high, low = v4 >> 16, v4 & 0xFFFF
    return (0x0064FF9B0001 << 80) | (high << 64) | (low << 40) | (suffix & 0xFFFFFFFF)


FORMS: dict[str, Callable[[int, int], int]] = {
    "IPv4-compatible": lambda v4, _: v4,
    "IPv4-mapped": lambda v4, _: (0xFFFF << 32) | v4,
    "IPv4-translated": lambda v4, _: (0xFFFF << 48) | v4,
    "NAT64": lambda v4, _: (0x64FF9B << 96) | v4,
    "local-use NAT64": _rfc6052_48,
    "6to4": lambda v4, rest: (0x2002 << 112) | (v4 << 80) | (rest & (2**80 - 1)),
    "Teredo": lambda v4, rest: (0x20010000 << 96) | ((rest & 0xFFFFFFFF) << 64) | (
        (rest >> 32) & 0xFFFFFFFF) << 32 | (v4 ^ 0xFFFFFFFF),
}  # fmt: skip


def spell(address: V6, style: int, upper: bool) -> str:
    """One of several textual spellings of the same address."""
    hextets = address.exploded.split(":")
    if style == 0:
        text = address.compressed
    elif style == 1:
        text = address.exploded
    elif style == 2:
        text = ":".join(h.lstrip("0") or "0" for h in hextets)
    else:  # six hextets and the last 32 bits as a dotted quad
        quad = str(V4(int(address) & 0xFFFFFFFF))
        text = ":".join(h.lstrip("0") or "0" for h in hextets[:6]) + ":" + quad
    return text.upper() if upper else text


@settings(max_examples=400, deadline=None)
@given(
    v4=ipv4s(),
    form=st.sampled_from(sorted(FORMS)),
    rest=st.integers(0, 2**80 - 1),
    style=st.integers(0, 3),
    upper=st.booleans(),
    port=st.sampled_from(["", ":80", ":443", ":8080"]),
)
def test_every_spelling_of_an_embedded_ipv4_address_is_refused(
    v4: V4, form: str, rest: int, style: int, upper: bool, port: str
) -> None:
    address = V6(FORMS[form](int(v4), rest))
    text = spell(address, style, upper)
    assert V6(text) == address, f"{text} must spell {address}"
    with pytest.raises(UnsafeWebhookTarget) as refused:
        resolve_target(f"http://[{text}]{port}/hook", resolver=never_called)
    if address not in (V6("::"), V6("::1")):  # those two are the unspecified and loopback
        assert "address embedding" in refused.value.message
