"""Access and refresh tokens as JWTs (RFC 8725): HS256 pinned, exp/iat/jti/iss/aud checked."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from typing import Any

import jwt
from sqlalchemy.util import LRUCache

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


# Tokens whose signature and claims were verified, by (key, token). PyJWT spends most of a
# decode re-examining the key (is it PEM? DER? a JWK?) before one HMAC: a third of a
# remembered list request's time. A token seen before only has its times checked again;
# a token that failed is never kept, so a forgery is verified (and refused) every time.
_VERIFIED: LRUCache[tuple[str, str], dict[str, Any]] = LRUCache(4096)


def decode(settings: Settings, token: str, kind: str) -> dict[str, Any]:
    key = (settings.secret_key, token)
    claims = _VERIFIED.get(key)
    if claims is None:
        claims = _verify(settings, token)
        _VERIFIED[key] = claims
    else:
        _check_times(claims)
    if claims.get("typ") != kind:
        raise NotAuthenticated(f"not an {kind} token")
    return dict(claims)  # the remembered claims stay as verified


def _check_times(claims: dict[str, Any]) -> None:
    """PyJWT's time checks (no leeway), for a token verified before."""
    now = time.time()
    if claims["exp"] <= now:
        raise NotAuthenticated("invalid token: Signature has expired")
    if claims.get("nbf", 0) > now or claims["iat"] > now:
        raise NotAuthenticated("invalid token: The token is not yet valid")


def _verify(settings: Settings, token: str) -> dict[str, Any]:
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
    return claims
