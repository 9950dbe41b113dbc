"""Ending access at once everywhere: a logout ends one session, a deactivation every session
of the account; either is told on the event bus (AccessRevoked, after the commit), so every
process, through Redis when there are several, closes the person's open WebSockets now
instead of at their next re-check. A change of what someone may see (a queue membership,
a role, a queue's visibility) is told the same way (AccessChanged): every process reloads
those people's access for their open sockets (web.realtime.hub)."""

from __future__ import annotations

from collections.abc import Iterable

from desk.auth.sessions import end_session, end_session_by_id
from desk.context import Desk
from desk.events.people import AccessChanged, AccessRevoked


async def log_out(desk: Desk, refresh_token: str) -> None:
    """End the refresh token's session (desk.auth.sessions.end_session) and close its
    sockets. Raises NotAuthenticated for a token that is not a valid refresh token."""
    await _closed(desk, await end_session(desk.db, desk.settings, refresh_token))


async def log_out_session(desk: Desk, sid: str) -> None:
    """End session `sid` (a browser's sign-out) and close its sockets."""
    await _closed(desk, await end_session_by_id(desk.db, sid))


async def _closed(desk: Desk, ended: tuple[int, str] | None) -> None:
    if ended is not None:
        user_id, session_id = ended
        await desk.bus.publish(
            [AccessRevoked(user_id=user_id, session_id=session_id, reason="logged out")]
        )


async def account_deactivated(
    desk: Desk, user_id: int, reason: str = "this account is not active"
) -> None:
    """Close every socket of an account just deactivated, or whose password was changed
    (`reason`, as the sockets are told; call after the commit that ended its sessions)."""
    await desk.bus.publish([AccessRevoked(user_id=user_id, session_id=None, reason=reason)])


async def access_changed(desk: Desk, user_ids: Iterable[int], reason: str) -> None:
    """Tell every process that what these people may see changed (call after the commit):
    their open sockets reload their access, close where it is gone, and check every later
    event by the new rule. The one place a membership, role or visibility change is said;
    nothing is said for nobody."""
    ids = tuple(sorted(set(user_ids)))
    if ids:
        await desk.bus.publish([AccessChanged(user_ids=ids, reason=reason)])
