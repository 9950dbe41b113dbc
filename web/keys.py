"""Typed keys for what the web app holds."""

from aiohttp import web

from desk.auth.google import GoogleKeys
from desk.auth.tokens import VerifiedTokens
from desk.context import Desk
from desk.tickets.counts import CountCache
from web.realtime.hub import Hub

DESK = web.AppKey("desk", Desk)
COUNTS = web.AppKey("ticket_counts", CountCache)
HUB = web.AppKey("live_hub", Hub)  # every open live socket
GOOGLE = web.AppKey("google_keys", GoogleKeys)  # Google's signing keys, fetched and cached
TOKENS = web.AppKey("verified_tokens", VerifiedTokens)  # access tokens already checked
