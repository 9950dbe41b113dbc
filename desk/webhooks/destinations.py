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
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
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
