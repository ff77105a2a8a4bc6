"""gateway.client_address: X-Forwarded-For counts only from trusted proxies."""

from __future__ import annotations

from ipaddress import ip_network

from starlette.requests import Request

from signalway.gateway.client_address import IPNetwork, client_address

PROXIES: tuple[IPNetwork, ...] = (ip_network("10.0.0.0/8"), ip_network("2001:db8::/32"))


def request(peer: str | None, *forwarded_for: str) -> Request:
    return Request({
        "type": "http", "method": "GET", "path": "/", "query_string": b"",
        "client": (peer, 50000) if peer is not None else None,
        "headers": [(b"x-forwarded-for", value.encode()) for value in forwarded_for],
    })


def test_untrusted_peer_is_the_client_whatever_it_forwards() -> None:
    assert client_address(request("198.51.100.7", "203.0.113.9"), PROXIES) == "198.51.100.7"


def test_no_trusted_proxies_means_the_header_is_ignored() -> None:
    assert client_address(request("10.0.0.2", "203.0.113.9"), ()) == "10.0.0.2"


def test_trusted_peer_gives_the_rightmost_untrusted_hop() -> None:
    # The leftmost entry is whatever the client chose to send; the proxy appended the real one.
    assert client_address(request("10.0.0.2", "1.2.3.4, 203.0.113.9"), PROXIES) == "203.0.113.9"


def test_trusted_hops_are_skipped() -> None:
    assert client_address(request("10.0.0.2", "203.0.113.9, 10.1.1.1, 10.2.2.2"), PROXIES) == "203.0.113.9"


def test_several_headers_form_one_list() -> None:
    assert client_address(request("10.0.0.2", "1.2.3.4", "203.0.113.9, 10.1.1.1"), PROXIES) == "203.0.113.9"


def test_malformed_entry_stops_at_the_last_trusted_hop() -> None:
    assert client_address(request("10.0.0.2", "203.0.113.9, not-an-ip, 10.1.1.1"), PROXIES) == "10.1.1.1"
    assert client_address(request("10.0.0.2", "203.0.113.9:443"), PROXIES) == "10.0.0.2"


def test_trusted_peer_without_the_header_is_the_client() -> None:
    assert client_address(request("10.0.0.2"), PROXIES) == "10.0.0.2"


def test_only_trusted_hops_give_the_leftmost() -> None:
    assert client_address(request("10.0.0.2", "10.9.9.9, 10.1.1.1"), PROXIES) == "10.9.9.9"


def test_ipv6_and_ipv4_mapped_addresses() -> None:
    assert client_address(request("2001:db8::1", "2001:db8::2, 2001:4860::8888"), PROXIES) == "2001:4860::8888"
    # A dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d; they match IPv4 networks.
    assert client_address(request("::ffff:10.0.0.2", "::ffff:203.0.113.9"), PROXIES) == "203.0.113.9"


def test_no_peer_is_unknown() -> None:
    assert client_address(request(None, "203.0.113.9"), PROXIES) == "unknown"
