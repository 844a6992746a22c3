"""Address safety (server-side request forgery): the hosts and addresses the downloader may reach.

How the check and the session's connections share the work is told in the package docstring.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from media_analysis.engine.errors import DownloadError, InvalidUrl, RefusedAddress, UnsupportedScheme
from media_analysis.engine.fetch.policy import DownloadPolicy, _short


@dataclass(frozen=True)
class _AllowList:
    names: frozenset[str]
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]

    def allows_name(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.names

    def allows_address(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        candidates = [address]
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            candidates.append(address.ipv4_mapped)
        return any(candidate in network for candidate in candidates for network in self.networks)


@lru_cache(maxsize=64)
def _allow_list(entries: tuple[str, ...]) -> _AllowList:
    names: set[str] = set()
    networks = []
    for raw in entries:
        entry = raw.strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
        except ValueError:
            names.add(entry.lower().rstrip("."))
    return _AllowList(frozenset(names), tuple(networks))


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    embedded = []
    if address.ipv4_mapped is not None:
        embedded.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        embedded.append(address.sixtofour)
    if address in _NAT64:
        embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return embedded


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def _is_forbidden(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        # ::ffff:a.b.c.d reaches a.b.c.d: judge that address, not the IPv6 block it is written in.
        return _is_forbidden(address.ipv4_mapped)
    if (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    ):
        return True
    if isinstance(address, ipaddress.IPv6Address):
        return any(_is_forbidden(inner) for inner in _embedded_ipv4(address))
    return False


def check_address(address: str, policy: DownloadPolicy, host: str | None = None) -> None:
    """Raise ``RefusedAddress`` unless ``address`` may be reached (``host``: the name it was resolved from)."""
    allow = _allow_list(policy.allow_private)
    _vet(host or address, [address], allow)


def _vet(host: str, addresses: list[str], allow: _AllowList) -> None:
    if allow.allows_name(host):
        return
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])
        if _is_forbidden(address) and not allow.allows_address(address):
            raise RefusedAddress(f"{host} resolves to {address}, a non-public address the downloader may not reach")


def resolve_host(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, in resolver order (IP literals resolve to themselves)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        # IPv4/IPv6 entries start with the address text; skip any other family's entry.
        address = sockaddr[0]
        if isinstance(address, str) and address not in addresses:
            addresses.append(address)
    return addresses


def check_url(url: str, policy: DownloadPolicy) -> tuple[str, int]:
    """Validate scheme, host and port of ``url``; return (host, port). Resolves the host (DNS) before any connection.

    A URL that cannot be parsed, or whose host or port is not valid, raises
    ``InvalidUrl``: no request could ever succeed, so it is not retried.
    """
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise InvalidUrl(f"invalid URL {_short(url)}: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UnsupportedScheme(f"unsupported URL scheme {scheme or '(none)'!r}: {_short(url)}")
    try:
        host = parts.hostname
        port = parts.port
    except ValueError as exc:
        raise InvalidUrl(f"invalid URL {_short(url)}: {exc}") from exc
    if not host:
        raise InvalidUrl(f"URL without a host: {_short(url)}")
    if port is None:
        port = 443 if scheme == "https" else 80
    elif not 0 < port < 65536:
        raise InvalidUrl(f"invalid port {port} in URL {_short(url)}")
    _check_host(host, url)
    allow = _allow_list(policy.allow_private)
    if allow.allows_name(host):
        return host, port
    try:
        addresses = resolve_host(host, port)
    except (OSError, UnicodeError) as exc:
        raise DownloadError(f"cannot resolve {host}: {exc}") from exc
    _vet(host, addresses, allow)
    return host, port


# What a host name may hold once IDNA-encoded: letters, digits, hyphens, dots (and the
# underscores some real names carry). Spaces, control characters and the like never resolve.
_HOST_NAME = re.compile(r"[A-Za-z0-9_.-]+")


def _check_host(host: str, url: str) -> None:
    """Raise ``InvalidUrl`` unless ``host`` is an IP literal or a well-formed name."""
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
        return
    except ValueError:
        pass
    try:
        encoded = host.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise InvalidUrl(f"invalid host name in URL {_short(url)}: {exc}") from exc
    if not _HOST_NAME.fullmatch(encoded) or len(encoded.rstrip(".")) > 253:
        raise InvalidUrl(f"invalid host name in URL {_short(url)}")
