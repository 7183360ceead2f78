"""Where an outbound request to a URL a tenant gave us may go (an SSRF guard).

A tenant's URL must not reach the gateway's own network: its host is resolved once, here, and every address it
resolves to must be public (or inside a network the operator allows, such as loopback for a local receiver in
development). The request then connects to the address checked, never resolving again, so a DNS answer that
changes between the check and the connection (rebinding) cannot move it.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from core.http import UrlOrigin, url_connect_host, url_origin

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

REFUSED_URL = "refused_url"
REFUSED_SCHEME = "refused_scheme"
REFUSED_ADDRESS = "refused_address"
UNRESOLVED = "unresolved"


class AddressRefusedError(Exception):
    """The URL may not be requested; ``reason`` is one of the REFUSED_… / UNRESOLVED words (no host, no path)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class AddressPolicy:
    allow_http: bool
    allowed_networks: tuple[IpNetwork, ...]

    @classmethod
    def of(cls, *, allow_http: bool, allowed_networks: Iterable[str]) -> AddressPolicy:
        return cls(allow_http, tuple(ipaddress.ip_network(network, strict=False) for network in allowed_networks))


@dataclass(frozen=True)
class PinnedTarget:
    """A URL and the one address its request connects to (``connect_host``: its host as the client names it)."""

    url: str
    origin: UrlOrigin
    connect_host: str
    address: IpAddress


def target_resolve(url: str, policy: AddressPolicy) -> PinnedTarget:
    """The checked address to connect to for ``url``; AddressRefusedError when the URL may not be requested."""
    origin = url_origin(url)
    if origin is None:
        raise AddressRefusedError(REFUSED_URL)
    if origin.scheme != "https" and not policy.allow_http:
        raise AddressRefusedError(REFUSED_SCHEME)
    connect_host = url_connect_host(url)
    addresses = host_addresses(connect_host, origin.port)
    if not addresses:
        raise AddressRefusedError(UNRESOLVED)
    if any(not address_allowed(address, policy.allowed_networks) for address in addresses):
        raise AddressRefusedError(REFUSED_ADDRESS)
    return PinnedTarget(url=url, origin=origin, connect_host=connect_host, address=addresses[0])


def host_addresses(host: str, port: int) -> list[IpAddress]:
    """Every address ``host`` resolves to (an address literal is itself), in the resolver's order."""
    literal = _literal(host)
    if literal is not None:
        return [literal]
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    found: list[IpAddress] = []
    for _family, _type, _protocol, _name, sockaddr in answers:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


def address_allowed(address: IpAddress, allowed_networks: Sequence[IpNetwork]) -> bool:
    """Public addresses, and any address inside ``allowed_networks``; an IPv4-mapped IPv6 address is judged as the
    IPv4 address it maps."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address.version == network.version and address in network for network in allowed_networks):
        return True
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def _literal(host: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
