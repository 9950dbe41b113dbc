"""Browser sign-in: the cookie of a page session and its CSRF token.

The cookie holds a JWT of type `browser` (desk.auth.tokens) naming an ordinary login
session (auth_sessions), so sign-out, deactivation and revocation end a browser exactly as
they end an API client: every request re-checks the session and the account
(desk.auth.sessions.live_user). The token lives `session_idle_minutes` and is issued again
on every page request, so a browser left alone that long is signed out (idle expiry),
while one in use stays signed in up to `BROWSER_DAYS` after sign-in.

CSRF protection is a synchronizer token (OWASP CSRF cheat sheet): an HMAC of the session
id under the desk's secret key, put in every form and sent back by the pages' script as
`X-CSRF-Token`. It needs no storage and dies with the session.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import timedelta

from desk.auth.sessions import live_user
from desk.auth.tokens import decode, issue
from desk.config import Settings
from desk.db import Database
from desk.errors import NotAuthenticated, PermissionDenied
from desk.models import AuthSession, User
from desk.models.base import utcnow

BROWSER_DAYS = 14  # the longest a browser stays signed in, however busy


@dataclass(frozen=True)
class BrowserLogin:
    """A signed-in browser: who, and which session (for sign-out and the CSRF token)."""

    user: User
    sid: str


async def start_browser_session(db: Database, settings: Settings, user: User) -> str:
    """A new login session for `user`; answers the cookie value that names it."""
    sid = uuid.uuid4().hex
    async with db.writer() as session:
        session.add(AuthSession(id=sid, user_id=user.id, current_jti=uuid.uuid4().hex))
    return browser_cookie(settings, user.id, sid)


def browser_cookie(settings: Settings, user_id: int, sid: str) -> str:
    """The cookie value for session `sid`, good for the idle time from now."""
    idle = timedelta(minutes=settings.session_idle_minutes)
    return issue(settings, user_id, "browser", idle, sid=sid)


async def browser_login(db: Database, settings: Settings, cookie: str) -> BrowserLogin:
    """The login a cookie names. NotAuthenticated when the cookie is forged or idle past its
    life, the session was ended or is older than BROWSER_DAYS, or the account is inactive."""
    claims = decode(settings, cookie, "browser")
    sid = claims["sid"]
    user = await live_user(db, int(claims["sub"]), sid)
    async with db.reader() as session:
        login = await session.get(AuthSession, sid)
    if login is None or utcnow() - login.created_at > timedelta(days=BROWSER_DAYS):
        raise NotAuthenticated("this session has ended; sign in again")
    return BrowserLogin(user=user, sid=sid)


def access_token_for(settings: Settings, login: BrowserLogin) -> str:
    """A short-lived API access token of the browser's own session, for the pages' script
    (WebSockets and JSON calls take Bearer tokens, never the cookie, so the API stays free
    of cookie-borne CSRF). It dies with the session like any other."""
    life = timedelta(minutes=settings.access_token_minutes)
    return issue(settings, login.user.id, "access", life, sid=login.sid)


def csrf_token(settings: Settings, sid: str) -> str:
    """The CSRF token of session `sid` (hex, 64 characters)."""
    key = settings.secret_key.encode()
    return hmac.new(key, f"csrf:{sid}".encode(), hashlib.sha256).hexdigest()


def check_csrf(settings: Settings, sid: str, presented: str | None) -> None:
    """PermissionDenied unless `presented` is the session's CSRF token."""
    if not presented or not hmac.compare_digest(presented, csrf_token(settings, sid)):
        raise PermissionDenied("the form has expired or did not come from this site; reload it")
