"""No server-side request forgery: a webhook may only reach public addresses. Checked when
a subscription is saved (a clear 400) and again by the sender's resolver at every connection,
so a name that later resolves to 127.0.0.1 or 169.254.169.254 (DNS rebinding) is refused
too. POSTDESK_WEBHOOK_ALLOW_PRIVATE lifts the rule for on-premise receivers and tests."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from desk.errors import ValidationFailed

# Cloud metadata services answer on these even where the range is not "private".
METADATA = {
    ipaddress.ip_address("169.254.169.254"),
    ipaddress.ip_address("fd00:ec2::254"),
    ipaddress.ip_address("100.100.100.200"),
}


class ForbiddenDestination(ValidationFailed):
    code = "forbidden_destination"


def is_forbidden(address: str) -> bool:
    """Whether a webhook may not reach `address` (an IP literal, v4 or v6, zone allowed).

    An IPv6 address that carries an IPv4 one is judged as that IPv4 address, since that is
    where its packets end up: IPv4-mapped (::ffff:a.b.c.d), 6to4 (2002::/16, RFC 3056),
    Teredo (2001::/32, RFC 4380: the client) and NAT64 (64:ff9b::/96, RFC 6052). So
    2002:7f00:1:: is refused like 127.0.0.1. Local-use NAT64 (64:ff9b:1::/48, RFC 8215)
    leads into the operator's own network: always refused."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _LOCAL_NAT64:
            return True
        embedded = embedded_ipv4(ip)
        if embedded is not None:
            ip = embedded
    return (
        ip in METADATA
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or (isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED)
    )


_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one delivers to, when it is a transition address."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def literal_host(url: str) -> str | None:
    """The URL's host when it is an IP literal (aiohttp connects to those without asking
    the resolver, so the resolver's guard never sees them), else None."""
    host = urlsplit(url).hostname or ""
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    return host


_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT


def check_url(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationFailed("the URL must be http:// or https:// with a host", field="url")
    if parts.username or parts.password:
        raise ValidationFailed(
            "put no credentials in the URL; verify the signature instead", field="url"
        )
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ValidationFailed("the URL's port is not valid", field="url") from None
    return parts.hostname, port


async def check_destination(url: str, allow_private: bool) -> None:
    host, port = check_url(url)
    if allow_private:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ValidationFailed(f"{host} does not resolve: {exc}", field="url") from None
    forbidden = sorted({str(info[4][0]) for info in infos if is_forbidden(str(info[4][0]))})
    if forbidden:
        raise ForbiddenDestination(
            f"{host} resolves to an address webhooks may not reach ({', '.join(forbidden)})",
            field="url",
        )
