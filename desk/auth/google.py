"""Sign in with Google (S1's GoogleLoginView): the browser gets an ID token from Google
Identity Services and sends it to POST /api/auth/google/; we check it as Google's guide
"Verify the Google ID token on your server side" says (signature by one of Google's keys,
`aud` our client id, `iss` accounts.google.com, not expired, `email_verified`), then sign
the account in with our own tokens.

Who gets in: the account with the token's (verified) email. A new address becomes a
customer, as mail to the desk does; staff accounts are never created this way, only signed
into when an admin made them."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import jwt
from sqlalchemy import select

from desk.auth.sessions import start_session
from desk.config import Settings
from desk.context import Desk
from desk.errors import DeskError, NotAuthenticated
from desk.models import QueueAddress, Role, User
from desk.people import create_user, user_data

ISSUERS = ("accounts.google.com", "https://accounts.google.com")  # both occur (Google's guide)
ALGORITHMS = ["RS256"]
FETCH_TIMEOUT_SECONDS = 5.0
KEYS_LIFETIME_SECONDS = 3600  # Google rotates its keys over days; a new `kid` refetches at once
REFETCH_INTERVAL_SECONDS = 60.0  # unknown `kid`s refetch the keys at most this often
LEEWAY_SECONDS = 30  # clock skew between Google and us


class GoogleUnavailable(DeskError):
    """Not configured here (no client id), or Google's keys could not be fetched."""

    code = "google_unavailable"
    status = 503


class GoogleKeys:
    """Google's signing keys, fetched from POSTDESK_GOOGLE_JWKS_URL (an admin's setting, so
    not a user-chosen URL) with a timeout, and kept for KEYS_LIFETIME_SECONDS. A token
    naming a `kid` the kept keys lack (Google rotated them) fetches them again at once, then
    verifies; such refetches happen at most once per REFETCH_INTERVAL_SECONDS, so tokens
    with made-up `kid`s cannot make us call Google for each. Decided here, not left to the
    PyJWT version installed (whose own refetch rules changed between releases). One per web
    app, built by its composition root."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
        self.client_id = settings.google_client_id
        self._client = jwt.PyJWKClient(
            settings.google_jwks_url,
            cache_keys=True,
            lifespan=KEYS_LIFETIME_SECONDS,
            timeout=FETCH_TIMEOUT_SECONDS,
        )
        self._clock = clock
        self._lock = threading.Lock()  # the keys are read in worker threads
        self._refetched_at: float | None = None

    def _signing_key(self, id_token: str) -> jwt.PyJWK:
        """The kept key the token names, or (once per interval) the fetched one. Blocking:
        PyJWKClient fetches with urllib. Raises PyJWKClientError, InvalidTokenError."""
        kid = jwt.get_unverified_header(id_token).get("kid")
        if not isinstance(kid, str):
            raise jwt.PyJWKClientError("the token names no signing key (kid)")
        with self._lock:
            key = self._client.match_kid(self._client.get_signing_keys(), kid)
            if key is None and self._may_refetch():
                self._refetched_at = self._clock()
                key = self._client.match_kid(self._client.get_signing_keys(refresh=True), kid)
        if key is None:
            raise jwt.PyJWKClientError(f"no Google signing key has the kid {kid!r}")
        return key

    def _may_refetch(self) -> bool:
        last = self._refetched_at
        return last is None or self._clock() - last >= REFETCH_INTERVAL_SECONDS

    async def claims(self, id_token: str) -> dict[str, Any]:
        """The token's claims once every check passed. Raises GoogleUnavailable (503) or
        NotAuthenticated (401, saying which check failed)."""
        if self.client_id is None:
            raise GoogleUnavailable("Sign in with Google is not set up on this desk")
        try:
            # PyJWKClient fetches with urllib: a blocking call, so off the event loop.
            key = await asyncio.to_thread(self._signing_key, id_token)
        except jwt.PyJWKClientConnectionError:
            raise GoogleUnavailable("Google's signing keys could not be fetched") from None
        except (jwt.PyJWKClientError, jwt.InvalidTokenError) as exc:
            raise NotAuthenticated(f"not a token signed by Google: {exc}") from None
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key.key,
                algorithms=ALGORITHMS,
                audience=self.client_id,
                issuer=ISSUERS,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.InvalidTokenError as exc:
            raise NotAuthenticated(f"the Google token is not valid: {exc}") from None
        if claims.get("aud") != self.client_id:  # Google's guide: equal, not one of a list
            raise NotAuthenticated("the Google token is not valid: aud is not our client id")
        if claims.get("email_verified") not in (True, "true") or not claims.get("email"):
            raise NotAuthenticated("Google has not verified this token's email address")
        return claims


async def sign_in(desk: Desk, keys: GoogleKeys, id_token: str) -> dict[str, Any]:
    """`{"access", "refresh", "user"}` for the account with the token's email; a new
    address becomes a customer (joining the company its domain maps to)."""
    claims = await keys.claims(id_token)
    email = str(claims["email"]).strip().lower()
    async with desk.db.writer() as session:
        desks_own = await session.get(QueueAddress, email) is not None
        if desks_own or email in desk.settings.support_addresses:
            raise NotAuthenticated("the desk's own addresses do not sign in")
        user = await session.scalar(select(User).where(User.email == email))
        if user is None:
            name = str(claims.get("name") or "")
            user = await create_user(
                session, email=email, role=Role.CUSTOMER.value, password=None, name=name
            )
        if not user.is_active:
            raise NotAuthenticated("this account is not active")
        data = user_data(user)
    return {**await start_session(desk.db, desk.settings, user), "user": data}
