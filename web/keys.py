"""Typed keys for what the web app holds."""

from aiohttp import web

from desk.context import Desk
from desk.models import User

DESK = web.AppKey("desk", Desk)
USER = "postdesk.user"  # request key for the authenticated user (set by auth.require_user)
__all__ = ["DESK", "USER", "User"]
