"""Token issue, rotation and logout."""

from __future__ import annotations

from aiohttp import web

from desk.auth.google import sign_in
from desk.auth.otp import register, request_code, verify_code
from desk.auth.password_links import request_reset, set_password
from desk.auth.revocation import log_out
from desk.auth.sessions import rotate, start_session
from desk.auth.signin import password_sign_in
from desk.errors import NotAuthenticated, PermissionDenied
from desk.models import User
from desk.people import set_availability, update_me, user_data
from web.client import client_address
from web.handlers.common import json_body
from web.keys import DESK, GOOGLE
from web.responses import json_response
from web.schemas import (
    AvailabilityUpdate,
    GoogleSignIn,
    MeUpdate,
    OtpRequest,
    OtpVerify,
    PasswordResetConfirm,
    PasswordResetRequest,
    RefreshRequest,
    Register,
    TokenRequest,
)


async def obtain_token(request: web.Request) -> web.Response:
    body = await json_body(request, TokenRequest)
    desk = request.app[DESK]
    user = await password_sign_in(desk, body.login, body.password, client_address(request))
    return json_response(await start_session(desk.db, desk.settings, user))


async def google_sign_in(request: web.Request) -> web.Response:
    """Our tokens for a Google ID token. Failures count against the caller's address as
    failed logins do (not against an account: bad tokens must not lock anyone out)."""
    body = await json_body(request, GoogleSignIn)
    desk = request.app[DESK]
    address = client_address(request)
    await desk.logins.check(f"google:{address}", address)
    try:
        answer = await sign_in(desk, request.app[GOOGLE], body.id_token)
    except NotAuthenticated:
        await desk.logins.failed(f"google:{address}", address)
        raise
    return json_response(answer)


async def availability(request: web.Request, user: User) -> web.Response:
    if request.method == "POST":
        body = await json_body(request, AvailabilityUpdate)
        user = await set_availability(
            request.app[DESK], user, is_available=body.is_available, capacity=body.capacity
        )
    elif not user.is_staff:
        raise PermissionDenied("only agents and admins have an availability")
    return json_response({"is_available": user.is_available, "capacity": user.capacity})


async def me(request: web.Request, user: User) -> web.Response:
    if request.method == "PATCH":
        body = await json_body(request, MeUpdate)
        async with request.app[DESK].db.writer() as session:
            user = await update_me(
                session, user, name=body.name, notify_on_reply=body.notify_on_reply
            )
    return json_response(user_data(user))


async def request_otp(request: web.Request) -> web.Response:
    body = await json_body(request, OtpRequest)
    await request_code(request.app[DESK], body.email, client_address(request))
    return json_response({"status": "if the address can sign up, a code is on its way"}, status=202)


async def verify_otp(request: web.Request) -> web.Response:
    body = await json_body(request, OtpVerify)
    token = await verify_code(request.app[DESK], body.email, body.given)
    return json_response({"verification_token": token})


async def register_account(request: web.Request) -> web.Response:
    body = await json_body(request, Register)
    created = await register(
        request.app[DESK], body.email, body.password, body.name, body.verification_token
    )
    return json_response(created, status=201)


async def password_reset(request: web.Request) -> web.Response:
    """The same answer whether or not the address has an account."""
    body = await json_body(request, PasswordResetRequest)
    await request_reset(request.app[DESK], body.email, client_address(request))
    return json_response(
        {"status": "if the address has an account, a link is on its way"}, status=202
    )


async def password_reset_confirm(request: web.Request) -> web.Response:
    """A link's token (invitation or reset) and the new password; then log in as usual."""
    body = await json_body(request, PasswordResetConfirm)
    user = await set_password(request.app[DESK], body.token, body.password)
    return json_response({"status": "password set", "user": user})


async def refresh_token(request: web.Request) -> web.Response:
    body = await json_body(request, RefreshRequest)
    desk = request.app[DESK]
    return json_response(await rotate(desk.db, desk.settings, body.refresh))


async def logout(request: web.Request) -> web.Response:
    body = await json_body(request, RefreshRequest)
    desk = request.app[DESK]
    await log_out(desk, body.refresh)
    return json_response({"status": "logged out"})
