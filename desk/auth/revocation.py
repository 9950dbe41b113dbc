"""Ending access at once everywhere: a logout ends one session, a deactivation every session
of the account; either is told on the event bus (AccessRevoked, after the commit), so every
process, through Redis when there are several, closes the person's open WebSockets now
instead of at their next re-check."""

from __future__ import annotations

from desk.auth.sessions import end_session
from desk.context import Desk
from desk.events.people import AccessRevoked


async def log_out(desk: Desk, refresh_token: str) -> None:
    """End the refresh token's session (desk.auth.sessions.end_session) and close its
    sockets. Raises NotAuthenticated for a token that is not a valid refresh token."""
    ended = await end_session(desk.db, desk.settings, refresh_token)
    if ended is not None:
        user_id, session_id = ended
        await desk.bus.publish(
            [AccessRevoked(user_id=user_id, session_id=session_id, reason="logged out")]
        )


async def account_deactivated(desk: Desk, user_id: int) -> None:
    """Close every socket of an account just deactivated (call after the commit)."""
    await desk.bus.publish(
        [AccessRevoked(user_id=user_id, session_id=None, reason="this account is not active")]
    )
