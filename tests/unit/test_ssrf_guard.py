"""The SSRF guard decides from the URL and the resolver's answers alone: nothing connects.

Names are resolved by a stand-in resolver (the DNS boundary); IP literals never reach it.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from octollm.webhooks.ssrf import UnsafeWebhookTarget, resolve_target


def answers(*addresses: str) -> object:
    def resolver(host: str, port: int) -> Sequence[str]:
        return list(addresses)

    return resolver


def never_called(host: str, port: int) -> Sequence[str]:
    raise AssertionError(f"the resolver must not be asked about {host}")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://localhost.localdomain.:8080/",
        "http://10.1.2.3/",
        "http://172.16.0.1/",
        "http://192.168.1.10/",
        "http://100.64.0.1/",
        "http://100.127.255.254/",
        "http://169.254.169.254/latest/meta-data/",
        "http://169.254.1.1/",
        "http://0.0.0.0/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:a9fe:a9fe]/",
        "http://[64:ff9b::7f00:1]/",
        "http://[64:ff9b::808:808]/",
        "http://[fd00:ec2::254]/",
        "http://[fe80::1]/",
        "http://[fc00::1]/",
        "http://[2002:7f00:1::]/",
        "http://224.0.0.1/",
        # issue 11: IPv4 embedded in IPv6, every form
        "http://[::127.0.0.1]/",
        "http://[::7f00:1]/",
        "http://[::ffff:0:7f00:1]/",
        "http://[::ffff:0:127.0.0.1]/",
        "http://[::ffff:0:a9fe:a9fe]/",
        "http://[::ffff:7f00:1]/",
        "http://[0:0:0:0:0:ffff:127.0.0.1]/",
        "http://[64:ff9b::127.0.0.1]/",
        "http://[64:ff9b:1:7f00:0:1::]/",
        "http://[64:ff9b:1::a00:1]/",
        "http://[2002:a9fe:a9fe::1]/",
        "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",
        "http://[2001:0:7f00:1::1]/",
    ],
)
def test_non_public_addresses_are_refused(url: str) -> None:
    with pytest.raises(UnsafeWebhookTarget):
        resolve_target(url, resolver=answers("127.0.0.1"))


@pytest.mark.parametrize(
    "host",
    [
        "2130706433",
        "0177.0.0.1",
        "0x7f.0.0.1",
        "0x7f000001",
        "127.1",
        "127.0.1",
        "017700000001",
        "1.2.3.4.5",
        "8.8.8.010",
        "0x08.8.8.8",
    ],
)
def test_odd_ip_spellings_are_refused_before_any_lookup(host: str) -> None:
    with pytest.raises(UnsafeWebhookTarget, match="non-canonical"):
        resolve_target(f"http://{host}/hook", resolver=never_called)


def test_a_name_is_refused_when_any_of_its_addresses_is_private() -> None:
    with pytest.raises(UnsafeWebhookTarget, match=r"10\.0\.0\.5"):
        resolve_target("https://hooks.example.com/x", resolver=answers("93.184.216.34", "10.0.0.5"))


def test_a_name_resolving_to_metadata_is_refused() -> None:
    with pytest.raises(UnsafeWebhookTarget, match="metadata"):
        resolve_target("https://hooks.example.com/x", resolver=answers("169.254.169.254"))


def test_a_public_name_is_accepted_and_pinned_to_the_checked_address() -> None:
    target = resolve_target("https://hooks.example.com:8443/x", resolver=answers("93.184.216.34"))
    assert (target.host, target.port, target.address) == (
        "hooks.example.com",
        8443,
        "93.184.216.34",
    )
    assert not target.allowlisted


def test_a_public_ip_literal_is_accepted_without_lookup() -> None:
    target = resolve_target("http://93.184.216.34/x", resolver=never_called)
    assert target.address == "93.184.216.34"


def test_the_allowlist_admits_exactly_its_host_and_port() -> None:
    target = resolve_target("http://127.0.0.1:8765/hook", ["127.0.0.1:8765"], resolver=never_called)
    assert target.allowlisted
    assert target.address == "127.0.0.1"
    with pytest.raises(UnsafeWebhookTarget):
        resolve_target("http://127.0.0.1:8766/hook", ["127.0.0.1:8765"], resolver=never_called)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://93.184.216.34/",
        "file:///etc/passwd",
        "gopher://93.184.216.34/",
        "http:///nohost",
        "http://user:pw@93.184.216.34/",
    ],
)
def test_other_schemes_missing_hosts_and_credentials_are_refused(url: str) -> None:
    with pytest.raises(UnsafeWebhookTarget):
        resolve_target(url, resolver=never_called)


def test_plain_http_can_be_forbidden() -> None:
    with pytest.raises(UnsafeWebhookTarget, match="scheme"):
        resolve_target("http://93.184.216.34/", resolver=never_called, allow_http=False)


@pytest.mark.parametrize(
    ("url", "form", "inner"),
    [
        ("http://[::127.0.0.1]/", "IPv4-compatible", "127.0.0.1"),
        ("http://[::ffff:0:7f00:1]/", "IPv4-translated", "127.0.0.1"),
        ("http://[::ffff:10.0.0.1]/", "IPv4-mapped", "10.0.0.1"),
        ("http://[64:ff9b::a9fe:a9fe]/", "NAT64", "169.254.169.254"),
        ("http://[64:ff9b:1:c0a8:1:100::]/", "local-use NAT64", "192.168.1.1"),
        ("http://[2002:c0a8:101::]/", "6to4", "192.168.1.1"),
        ("http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/", "Teredo", "127.0.0.1"),
    ],
)
def test_an_embedded_ipv4_is_named_and_classified_in_the_refusal(
    url: str, form: str, inner: str
) -> None:
    with pytest.raises(UnsafeWebhookTarget) as err:
        resolve_target(url, resolver=never_called)
    assert f"{form} address embedding" in err.value.message
    assert inner in err.value.message


@pytest.mark.parametrize(
    "url",
    ["http://[::8.8.8.8]/", "http://[::ffff:0:808:808]/", "http://[2002:808:808::1]/"],
)
def test_an_embedded_public_ipv4_is_refused_too(url: str) -> None:
    with pytest.raises(UnsafeWebhookTarget, match=r"8\.8\.8\.8 \(a public address\)"):
        resolve_target(url, resolver=never_called)


def test_a_name_resolving_to_an_embedded_form_is_refused() -> None:
    with pytest.raises(UnsafeWebhookTarget, match="IPv4-compatible"):
        resolve_target("https://hooks.example.com/", resolver=answers("::127.0.0.1"))


def test_a_plain_public_ipv6_address_is_accepted() -> None:
    target = resolve_target("https://[2606:4700:4700::1111]/x", resolver=never_called)
    assert target.address == "2606:4700:4700::1111"
