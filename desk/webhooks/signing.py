"""Standard Webhooks (standardwebhooks.com): `webhook-id`, `webhook-timestamp` and
`webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, keyed by the bytes of
a `whsec_<base64>` secret. Receivers verify with any Standard Webhooks library and use the
id to drop duplicates (a retry carries the same id)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

PREFIX = "whsec_"


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def secret_key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(PREFIX), validate=True)


def normalized_secret(secret: str) -> str | None:
    """An admin's own secret as the scheme has it (base64 of 16 to 64 bytes, `whsec_`
    optional), so every Standard Webhooks library verifies with it; None if it is not one."""
    try:
        key = secret_key(secret)
    except ValueError:
        return None
    return PREFIX + base64.b64encode(key).decode() if 16 <= len(key) <= 64 else None


def signed_headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), content, hashlib.sha256).digest()
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
        "Content-Type": "application/json",
    }
