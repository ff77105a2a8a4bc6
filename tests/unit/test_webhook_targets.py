"""Which webhook URLs are refused, which resolve to a checked address, and what the refusal says."""

from __future__ import annotations

import ipaddress

import pytest
from pydantic import ValidationError

from signalway.settings import CommonSettings
from signalway.webhook_targets import (
    Target,
    WebhookTargetRefused,
    is_public,
    parse_networks,
    resolve_target,
)

LOOPBACK_ONLY = "127.0.0.1/32"


@pytest.mark.parametrize(("url", "allowed", "host"), [
    ("http://127.0.0.1:6379/", "", "127.0.0.1"),
    ("http://127.0.0.2/", LOOPBACK_ONLY, "127.0.0.2"),
    ("http://127.1/", "", "127.1"),  # inet_aton shorthand, resolved by getaddrinfo
    ("http://2130706433/", "", "2130706433"),  # 127.0.0.1 as one decimal number
    ("http://10.1.2.3/hook", "", "10.1.2.3"),
    ("http://172.16.0.1/", "", "172.16.0.1"),
    ("http://192.168.1.10/", "", "192.168.1.10"),
    ("http://100.64.0.1/", "", "100.64.0.1"),
    ("http://169.254.169.254/latest/meta-data/", "", "169.254.169.254"),
    ("http://169.254.1.1/", "", "169.254.1.1"),
    ("http://100.100.100.200/", "", "100.100.100.200"),
    ("http://[fd00:ec2::254]/", "", "fd00:ec2::254"),
    ("http://[::1]:8080/", "", "::1"),
    ("http://[fc00::1]/", "", "fc00::1"),
    ("http://[fe80::1]/", "", "fe80::1"),
    ("http://[::ffff:127.0.0.1]/", "", "::ffff:127.0.0.1"),
    ("http://[::ffff:10.0.0.1]/", "", "::ffff:10.0.0.1"),
    ("http://[2002:7f00:1::]/", "", "2002:7f00:1::"),  # 6to4 around 127.0.0.1
    ("http://[64:ff9b::a00:1]/", "", "64:ff9b::a00:1"),  # NAT64 around 10.0.0.1
    ("http://[ff02::1]/", "", "ff02::1"),
    ("http://[::]/", "", "::"),
    ("http://0.0.0.0:6379/", "", "0.0.0.0"),
    ("http://224.0.0.1/", "", "224.0.0.1"),
    ("http://255.255.255.255/", "", "255.255.255.255"),
    ("http://240.0.0.1/", "", "240.0.0.1"),
    ("http://localhost:6379/", "", "localhost"),
    ("http://LOCALHOST./", "", "localhost."),
    ("http://169.254.169.254/", "10.0.0.0/8", "169.254.169.254"),
])
async def test_non_public_addresses_are_refused(url: str, allowed: str, host: str) -> None:
    with pytest.raises(WebhookTargetRefused) as refused:
        await resolve_target(url, parse_networks(allowed))
    assert refused.value.host == host
    assert host in str(refused.value)
    assert "SIGNALWAY_WEBHOOK_ALLOWED_NETWORKS" in str(refused.value)


@pytest.mark.parametrize(("url", "host", "reason"), [
    ("ftp://93.184.216.34/file", "93.184.216.34", "scheme 'ftp'"),
    ("file:///etc/passwd", "", "scheme 'file'"),
    ("gopher://127.0.0.1:6379/_INFO", "127.0.0.1", "scheme 'gopher'"),
    ("http:///nohost", "", "no host"),
    ("http://user:pw@93.184.216.34/", "93.184.216.34", "user info"),
    ("http://user@93.184.216.34/", "93.184.216.34", "user info"),
    ("http://93.184.216.34:99999/", "", "port"),
    ("http://nothing.invalid/", "nothing.invalid", "does not resolve"),
])
async def test_malformed_urls_are_refused_with_a_reason(url: str, host: str, reason: str) -> None:
    with pytest.raises(WebhookTargetRefused) as refused:
        await resolve_target(url)
    assert refused.value.host == host and reason in refused.value.reason
    assert "pw" not in str(refused.value)
    assert "SIGNALWAY_WEBHOOK_ALLOWED_NETWORKS" in str(refused.value)


async def test_refusal_of_a_name_does_not_say_where_it_resolves() -> None:
    with pytest.raises(WebhookTargetRefused) as refused:
        await resolve_target("http://localhost/")
    assert refused.value.reason == "it resolves to a loopback address"
    assert "127.0.0.1" not in str(refused.value)


@pytest.mark.parametrize(("url", "allowed", "expected"), [
    ("http://93.184.216.34/hook?a=1#frag", "",
     Target("http", "93.184.216.34", 80, "/hook?a=1", "93.184.216.34")),
    ("HTTPS://93.184.216.34", "", Target("https", "93.184.216.34", 443, "/", "93.184.216.34")),
    ("http://[2606:4700::1111]:8443/x", "", Target("http", "2606:4700::1111", 8443, "/x", "2606:4700::1111")),
    ("http://127.0.0.1:9000/in", LOOPBACK_ONLY, Target("http", "127.0.0.1", 9000, "/in", "127.0.0.1")),
    ("http://localhost:9000/", LOOPBACK_ONLY, Target("http", "localhost", 9000, "/", "127.0.0.1")),
    ("http://10.9.8.7/", "10.0.0.0/8, 192.168.0.0/16", Target("http", "10.9.8.7", 80, "/", "10.9.8.7")),
    # ::ffff:127.0.0.1 reaches 127.0.0.1, so the IPv4 allowance covers it
    ("http://[::ffff:127.0.0.1]/", LOOPBACK_ONLY, Target("http", "::ffff:127.0.0.1", 80, "/", "::ffff:7f00:1")),
])
async def test_public_or_allowed_addresses_resolve(url: str, allowed: str, expected: Target) -> None:
    assert await resolve_target(url, parse_networks(allowed)) == expected


def test_target_urls_carry_the_ip_and_headers_the_name() -> None:
    v6 = Target("https", "hooks.example", 443, "/a?b=c", "2606:4700::1111")
    assert v6.connect_url == "https://[2606:4700::1111]:443/a?b=c"
    assert v6.host_header == "hooks.example"
    v4 = Target("http", "hooks.example", 8080, "/", "93.184.216.34")
    assert v4.connect_url == "http://93.184.216.34:8080/"
    assert v4.host_header == "hooks.example:8080"
    assert Target("http", "::1", 8080, "/", "::1").host_header == "[::1]:8080"


@pytest.mark.parametrize(("address", "public"), [
    ("93.184.216.34", True),
    ("2606:4700::1111", True),
    ("::ffff:93.184.216.34", True),
    ("64:ff9b::5db8:d822", True),  # NAT64 around a public address
    ("::ffff:127.0.0.1", False),
    ("fe80::1%eth0", False),
    ("fec0::1", False),
    ("2001:db8::1", False),
    ("192.0.2.1", False),
    ("198.18.0.1", False),
])
def test_is_public(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public


def test_parse_networks_reads_cidrs_and_bare_addresses() -> None:
    assert parse_networks(" 127.0.0.1 , 10.0.0.0/8,,::1 ") == (
        ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128"))
    assert parse_networks(["192.168.0.0/16"]) == (ipaddress.ip_network("192.168.0.0/16"),)
    assert parse_networks("") == ()


@pytest.mark.parametrize("junk", ["localhost", "10.0.0.1/8", "10.0.0.0/33", "1.2.3", "*"])
def test_parse_networks_rejects_junk(junk: str) -> None:
    with pytest.raises(ValueError, match="SIGNALWAY_WEBHOOK_ALLOWED_NETWORKS"):
        parse_networks(f"127.0.0.1/32,{junk}")


def test_settings_validate_the_allowed_networks() -> None:
    assert CommonSettings().webhook_allowed_networks == ""
    assert CommonSettings(webhook_allowed_networks="127.0.0.1/32").webhook_allowed_networks == "127.0.0.1/32"
    with pytest.raises(ValidationError, match="not a network"):
        CommonSettings(webhook_allowed_networks="10.0.0.1/8")


def test_settings_read_the_allowed_networks_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGNALWAY_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.1/32,10.0.0.0/8")
    assert CommonSettings().webhook_allowed_networks == "127.0.0.1/32,10.0.0.0/8"
