"""Where outbound webhooks may go: public addresses, plus the networks an operator allows.

A webhook URL comes from whoever starts a run, so without a check the worker would POST
wherever it points — Redis on 127.0.0.1, a cloud metadata service, the office LAN — and the
run's failure would tell the caller what answered. `resolve_target` resolves the host once,
refuses it if *any* of its addresses is not public (unless inside an allowed network), and
returns the checked address: the caller connects to that address, never to a fresh DNS
answer, so a name cannot resolve to a public address at check time and a private one at
connect time.

Stdlib only: both the gateway (at start) and the worker (at each delivery) use it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeAlias
from urllib.parse import urlsplit

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network

SETTING = "SIGNALWAY_WEBHOOK_ALLOWED_NETWORKS"
DEFAULT_PORTS = {"http": 80, "https": 443}

# Cloud metadata endpoints (AWS/GCP/Azure/OpenStack, AWS over IPv6, Alibaba): named apart
# because reaching one hands out credentials, whatever the range it sits in.
_METADATA = frozenset(ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200"))
_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# Not global but not flagged by every Python's `ipaddress` (3.11's `is_global` is True for
# all of these), so listed explicitly.
_NOT_PUBLIC = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "192.0.0.0/24", "198.18.0.0/15", "240.0.0.0/4",
    "::/8", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32", "fec0::/10",
))


class WebhookTargetRefused(ValueError):
    """A webhook URL that may not be called: bad form, or an address that is not public."""

    def __init__(self, host: str, reason: str) -> None:
        self.host = host
        self.reason = reason
        super().__init__(
            f"webhook target {host or '(no host)'} refused: {reason}; an operator can allow an "
            f"address with {SETTING} (comma-separated CIDRs, e.g. 10.0.0.0/8)"
        )


@dataclass(frozen=True)
class Target:
    """A checked webhook target: connect to `address`, speak to `host`."""

    scheme: str
    host: str  # the URL's host, lower case, IDNA-encoded; brackets stripped from IPv6
    port: int
    path_and_query: str
    address: str  # the checked IP to connect to

    @property
    def connect_url(self) -> str:
        """The URL with the checked IP as host, so the HTTP client does no DNS lookup of its own."""
        ip = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.scheme}://{ip}:{self.port}{self.path_and_query}"

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


def parse_networks(value: str | Sequence[str | IPNetwork], *, setting: str | None = SETTING) -> tuple[IPNetwork, ...]:
    """Comma-separated CIDRs (or a list of them) to networks; a bare address is a /32 or /128.

    Parsing is strict: "10.0.0.1/8" is refused rather than silently widened to 10.0.0.0/8. The
    message names the entry by position, never by value, and starts with `setting` if given.
    """
    items = value.split(",") if isinstance(value, str) else list(value)
    networks: list[IPNetwork] = []
    for position, raw in enumerate(items, start=1):
        if isinstance(raw, ipaddress.IPv4Network | ipaddress.IPv6Network):
            networks.append(raw)
            continue
        item = raw.strip()
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item))
        except ValueError:
            prefix = f"{setting}: " if setting else ""
            raise ValueError(
                f"{prefix}entry {position} is not a network in CIDR form (e.g. 10.0.0.0/8 or 192.0.2.7)"
            ) from None
    return tuple(networks)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form delivers to (IPv4-mapped, 6to4, NAT64), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def not_public_reason(ip: IPAddress) -> str | None:
    """Why `ip` is not a public address ("a loopback address", …), or None when it is."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            why = not_public_reason(inner)
            return f"{why} (embedded in an IPv6 address)" if why else None
        ip = ipaddress.IPv6Address(int(ip))  # drop a %scope: it would defeat the set lookup below
    if ip in _METADATA:
        return "a cloud metadata address"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_link_local:
        return "a link-local address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return "a shared (CGNAT) address"
    if ip.is_private:
        return "a private address"
    if ip.is_reserved or not ip.is_global or any(ip in net for net in _NOT_PUBLIC):
        return "a reserved address"
    return None


def is_public(ip: IPAddress) -> bool:
    """True for an address on the public internet (IPv6 forms of IPv4 judged by their IPv4)."""
    return not_public_reason(ip) is None


def _allowed(ip: IPAddress, allowed: Sequence[IPNetwork]) -> bool:
    candidates: list[IPAddress] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            candidates.append(inner)  # ::ffff:127.0.0.1 is 127.0.0.1 to the kernel
    # `in` is simply False across IP versions.
    return any(c in net for c in candidates for net in allowed)


def _check(host: str, ip: IPAddress, allowed: Sequence[IPNetwork], *, literal: bool) -> None:
    if _allowed(ip, allowed):
        return
    why = not_public_reason(ip)
    if why is not None:
        # The resolved address stays out of the message: it would map the caller's internal DNS.
        raise WebhookTargetRefused(host, f"{'it is' if literal else 'it resolves to'} {why}")


async def resolve_target(url: str, allowed: Iterable[IPNetwork] = ()) -> Target:
    """Check `url` and resolve its host once; raises `WebhookTargetRefused`."""
    networks = tuple(allowed)
    try:
        parts = urlsplit(url.strip())
        port_given = parts.port
    except ValueError:
        raise WebhookTargetRefused("", "the URL is malformed or its port is invalid") from None
    scheme = parts.scheme.lower()
    raw_host = parts.hostname or ""
    if scheme not in DEFAULT_PORTS:
        raise WebhookTargetRefused(raw_host, f"scheme {scheme or '(none)'!r} is not http or https")
    if not raw_host:
        raise WebhookTargetRefused("", "the URL has no host")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        # Credentials in a URL end up in logs and histories; the host is named, never them.
        raise WebhookTargetRefused(raw_host, "the URL carries user info (user:password@)")
    port = port_given if port_given is not None else DEFAULT_PORTS[scheme]
    if not 0 < port < 65536:
        raise WebhookTargetRefused(raw_host, f"port {port} is invalid")
    path_and_query = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    try:
        literal: IPAddress | None = ipaddress.ip_address(raw_host)
    except ValueError:
        literal = None
    if literal is not None:
        _check(raw_host, literal, networks, literal=True)
        return Target(scheme, raw_host, port, path_and_query, str(literal))

    try:
        host = raw_host.encode("idna").decode("ascii")
    except UnicodeError:
        raise WebhookTargetRefused(raw_host, "it is not a valid host name") from None
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError, ValueError):
        raise WebhookTargetRefused(host, "the host name does not resolve") from None
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        try:
            ip = ipaddress.ip_address(str(sockaddr[0]))
        except ValueError:
            continue
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise WebhookTargetRefused(host, "the host name does not resolve")
    # Any bad address refuses the host: the HTTP client might otherwise fall back to it.
    for ip in addresses:
        _check(host, ip, networks, literal=False)
    return Target(scheme, host, port, path_and_query, str(addresses[0]))
