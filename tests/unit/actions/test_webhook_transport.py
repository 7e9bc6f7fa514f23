"""The SSRF guard's address rules and allow-list (no network)."""

from __future__ import annotations

import ipaddress

import pytest

from automations_actions.webhook_transport import (
    Allowlist,
    UnsafeTargetError,
    WebhookTransport,
    address_problem,
)


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "shared (CGNAT)"),
        ("169.254.169.254", "a cloud metadata address"),
        ("169.254.1.1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::1", "loopback"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("fd00:ec2::254", "a cloud metadata address"),
        ("::ffff:127.0.0.1", "loopback inside an IPv6 address"),
        ("::ffff:169.254.169.254", "a cloud metadata address inside an IPv6 address"),
        ("64:ff9b::a00:1", "private inside an IPv6 address"),
        ("2002:7f00:1::", "loopback inside an IPv6 address"),
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
    ],
)
def test_address_rules(address: str, problem: str | None) -> None:
    assert address_problem(ipaddress.ip_address(address)) == problem


def test_allowlist_admits_networks_and_hosts() -> None:
    allow = Allowlist.parse(["10.0.0.0/8", "internal.example.", " "])
    assert allow.admits("x", ipaddress.ip_address("10.9.9.9"))
    assert not allow.admits("x", ipaddress.ip_address("192.168.0.1"))
    assert allow.admits("Internal.Example", ipaddress.ip_address("192.168.0.1"))


async def test_urls_are_checked_before_any_connection() -> None:
    transport = WebhookTransport()
    try:
        with pytest.raises(UnsafeTargetError, match="only http and https"):
            await transport.check_url("file:///etc/passwd", allow_private=True)
        with pytest.raises(UnsafeTargetError, match="loopback"):
            await transport.check_url("http://127.0.0.1:9/x", allow_private=False)
        with pytest.raises(UnsafeTargetError, match="metadata"):
            await transport.check_url("http://169.254.169.254/", allow_private=True)
        target = await transport.check_url("https://[::1]:8443/", allow_private=True)
        assert (target.host, target.port, str(target.address)) == ("::1", 8443, "::1")
        admitted = WebhookTransport(Allowlist.parse(["169.254.169.254/32"]))
        try:
            await admitted.check_url("http://169.254.169.254/", allow_private=False)
        finally:
            await admitted.aclose()
    finally:
        await transport.aclose()
