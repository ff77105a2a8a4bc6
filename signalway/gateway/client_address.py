"""The address a request comes from, believing `X-Forwarded-For` only from trusted proxies.

uvicorn runs with `proxy_headers=False`: its own handling trusts the header from loopback,
so anyone on the host (or a proxy that passes the header through) could pick the address
the resume rate limit keys on. Here the socket peer is the client unless it is a trusted
proxy (`SIGNALWAY_TRUSTED_PROXIES`); then the header is read from the right, the end each
proxy appended to, and the first hop that is not a trusted proxy is the client. Entries to
its left were written by that client and prove nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import TypeAlias

from starlette.requests import Request

IPNetwork: TypeAlias = IPv4Network | IPv6Network


def _parse(text: str) -> IPv4Address | IPv6Address | None:
    try:
        address = ip_address(text.strip())
    except ValueError:
        return None
    # A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; compare them as IPv4.
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: IPv4Address | IPv6Address, trusted: Sequence[IPNetwork]) -> bool:
    # `in` across IP versions is simply False, so mixed lists need no special case.
    return any(address in network for network in trusted)


def client_address(request: Request, trusted: Sequence[IPNetwork]) -> str:
    """The client's address as a string; "unknown" when the server reports no peer."""
    if request.client is None:
        return "unknown"
    peer = _parse(request.client.host)
    if peer is None or not _trusted(peer, trusted):
        # An untrusted peer (or a unix socket) is the client, whatever headers it sends.
        return request.client.host
    last_trusted = peer
    # Several X-Forwarded-For headers form one list, in order (RFC 9110 §5.3).
    hops = ",".join(request.headers.getlist("x-forwarded-for")).split(",")
    for hop in reversed(hops):
        address = _parse(hop)
        if address is None:
            # A malformed (or missing) entry: nothing left of it can be attributed; the
            # last trusted hop is the best address we can vouch for.
            return str(last_trusted)
        if not _trusted(address, trusted):
            return str(address)
        last_trusted = address
    return str(last_trusted)
