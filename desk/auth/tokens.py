"""Access and refresh tokens as JWTs (RFC 8725): HS256 pinned, exp/iat/jti/iss/aud checked."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from typing import Any

import jwt

from desk.config import Settings
from desk.errors import NotAuthenticated
from desk.models.base import utcnow

ALGORITHM = "HS256"
ISSUER = "postdesk"
AUDIENCE = "postdesk-api"
REFRESH_DAYS = 14


def issue(
    settings: Settings,
    user_id: int,
    kind: str,
    lifetime: timedelta,
    *,
    sid: str,
    jti: str | None = None,
) -> str:
    now = utcnow()
    claims = {
        "sub": str(user_id),
        "typ": kind,
        "sid": sid,
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "jti": jti or uuid.uuid4().hex,
        "iss": ISSUER,
        "aud": AUDIENCE,
    }
    return jwt.encode(claims, settings.secret_key, algorithm=ALGORITHM)


def issue_pair(settings: Settings, user_id: int, sid: str, refresh_jti: str) -> dict[str, str]:
    access_life = timedelta(minutes=settings.access_token_minutes)
    return {
        "access": issue(settings, user_id, "access", access_life, sid=sid),
        "refresh": issue(
            settings, user_id, "refresh", timedelta(days=REFRESH_DAYS), sid=sid, jti=refresh_jti
        ),
    }


def decode(settings: Settings, token: str, kind: str) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            settings.secret_key,
            algorithms=[ALGORITHM],  # pinned: no "none", no key confusion
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "jti", "sub", "iss", "aud", "typ", "sid"]},
        )
    except jwt.PyJWTError as exc:
        raise NotAuthenticated(f"invalid token: {exc}") from None
    if claims.get("typ") != kind:
        raise NotAuthenticated(f"not an {kind} token")
    return claims


class VerifiedTokens:
    """Access tokens whose signature and claims were checked, with their claims, so a token
    seen again costs a lookup instead of a signature check. Only the token's own checks are
    spared: its session and user are still read on every request (desk.auth.sessions), so a
    logout or a deactivation shuts the token out at the next request all the same. A token
    past its `exp`, or checked under another secret key, is checked afresh. One instance is
    built by the web app's composition root; at most `size` tokens are kept, the oldest
    going first."""

    def __init__(self, size: int = 10_000) -> None:
        self._size = size
        self._claims: dict[str, tuple[str, dict[str, Any]]] = {}

    def claims(self, settings: Settings, token: str) -> dict[str, Any]:
        """The claims of access token `token`; NotAuthenticated as `decode` raises it."""
        known = self._claims.get(token)
        if known is not None and known[0] == settings.secret_key and known[1]["exp"] > time.time():
            return known[1]
        claims = decode(settings, token, "access")
        if len(self._claims) >= self._size:
            del self._claims[next(iter(self._claims))]  # the oldest (dicts keep order)
        self._claims[token] = (settings.secret_key, claims)
        return claims
