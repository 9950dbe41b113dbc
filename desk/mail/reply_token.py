"""Reply tokens (`support+<token>@domain`): they name a ticket and are signed, so unguessable."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Sequence

_TOKEN = re.compile(r"^(\d{1,12})-([a-z2-7]{16})$")


def make_token(ticket_id: int, secret: str) -> str:
    return f"{ticket_id}-{_signature(ticket_id, secret)}"


def reply_address(ticket_id: int, secret: str, support_address: str) -> str:
    local, _, domain = support_address.partition("@")
    return f"{local}+{make_token(ticket_id, secret)}@{domain}"


def ticket_from_address(address: str, secret: str, support_addresses: Sequence[str]) -> int | None:
    """The ticket a `support+token@domain` address names, if its signature holds; any of
    the desk's support addresses may carry the token (a ticket answers from its own)."""
    local, _, domain = address.strip().lower().partition("@")
    base, plus, token = local.partition("+")
    if not plus or f"{base}@{domain}" not in {a.lower() for a in support_addresses}:
        return None
    match = _TOKEN.match(token)
    if not match:
        return None
    ticket_id = int(match.group(1))
    if not hmac.compare_digest(match.group(2), _signature(ticket_id, secret)):
        return None
    return ticket_id


def _signature(ticket_id: int, secret: str) -> str:
    # 80 bits of HMAC-SHA256, lower-case base32: survives MTAs that lower-case local parts.
    digest = hmac.new(secret.encode(), f"reply:{ticket_id}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest[:10]).decode().lower()
