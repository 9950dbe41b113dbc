"""Access and refresh tokens as JWTs (RFC 8725): HS256 pinned, exp/iat/jti/iss/aud checked."""

from __future__ import annotations

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
