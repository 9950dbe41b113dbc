"""Typed keys for what the web app holds."""

from aiohttp import web

from desk.context import Desk

DESK = web.AppKey("desk", Desk)
