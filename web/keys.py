"""Typed keys for what the web app holds."""

from aiohttp import web

from desk.context import Desk
from desk.tickets.counts import CountCache
from web.responses import SnapshotResponses

DESK = web.AppKey("desk", Desk)
COUNTS = web.AppKey("ticket_counts", CountCache)
RESPONSES = web.AppKey("snapshot_responses", SnapshotResponses)
