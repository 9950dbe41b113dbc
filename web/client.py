"""Who is asking: the client's address, as every limit and log line keyed by address uses it
(password sign-in, Google sign-in, sign-up codes; the SMTP listener has its own peer).

Behind a load balancer the socket's peer is the balancer, so limits per address would
count every user together. When the peer is in POSTDESK_TRUSTED_PROXIES, the hops the
proxies recorded are read from the right (`Forwarded`, RFC 7239, else `X-Forwarded-For`):
the first hop that is not itself a trusted proxy is the client. Hops further left were
written by the client and are never believed. Without trusted proxies the headers are
ignored (anyone could send them)."""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

from aiohttp import web

from web.keys import DESK

Address = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network
UNKNOWN = "unknown"


def client_address(request: web.Request) -> str:
    """The client's IP address as text ("unknown" if the socket has none)."""
    peer = _parse(request.remote or "")
    if peer is None:
        return request.remote or UNKNOWN
    trusted = request.app[DESK].settings.trusted_proxies
    if not _within(peer, trusted):
        return str(peer)
    return str(nearest_untrusted(peer, _hops(request), trusted))


def nearest_untrusted(peer: Address, hops: Sequence[str], trusted: Sequence[Network]) -> Address:
    """Walk `hops` (as recorded, client first) from the right, starting at the trusted
    `peer`: the first hop outside `trusted`. A hop that is not an address (`unknown`, an
    obfuscated name, garbage) ends the walk at the last trusted hop: nothing left of it
    can be believed. If every hop is trusted, the leftmost is the client."""
    current = peer
    for raw in reversed(hops):
        hop = _parse(raw)
        if hop is None:
            return current
        current = hop
        if not _within(hop, trusted):
            return hop
    return current


def _hops(request: web.Request) -> list[str]:
    """The recorded hops, client first: `Forwarded` for= values if there are any, else
    X-Forwarded-For (every such header, in order)."""
    forwarded = [f.get("for", "") for f in request.forwarded]
    if forwarded:
        return forwarded
    return [
        part.strip()
        for header in request.headers.getall("X-Forwarded-For", [])
        for part in header.split(",")
        if part.strip()
    ]


def _parse(raw: str) -> Address | None:
    """An address from a hop as proxies write them: `192.0.2.1`, `192.0.2.1:4711`,
    `[2001:db8::1]:4711`, `2001:db8::1`."""
    text = raw.strip().strip('"')
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        return ip_address(text)
    except ValueError:
        return None


def _within(address: Address, networks: Sequence[Network]) -> bool:
    return any(address in network for network in networks)
