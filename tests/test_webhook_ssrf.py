"""Webhook SSRF, as an attacker would try it: IPv6 transition addresses that carry a private
IPv4 address, and IP literals, which aiohttp connects to without asking the resolver (so the
guarded resolver never sees them)."""

from __future__ import annotations

import dataclasses
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from daemon.lifecycle import started
from desk.models import WebhookAttempt, WebhookSubscription
from desk.people import add_user
from desk.webhooks.destinations import ForbiddenDestination, check_destination, is_forbidden
from tests.support import Api, free_port, http_server, rows, wait_for


@pytest.mark.parametrize(
    "address",
    [
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254 (cloud metadata)
        "2002:c0a8:1::",  # 6to4 of 192.168.0.1
        "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "::ffff:10.0.0.1",  # IPv4-mapped
        "64:ff9b:1::1",  # local-use NAT64: the operator's own network
    ],
)
def test_addresses_that_embed_a_private_ipv4_are_refused(address: str):
    assert is_forbidden(address)


@pytest.mark.parametrize("address", ["2002:808:808::1", "64:ff9b::808:808", "8.8.8.8"])
def test_addresses_that_embed_a_public_ipv4_are_judged_by_it(address: str):
    assert not is_forbidden(address)


async def test_saving_a_6to4_url_of_loopback_is_refused():
    with pytest.raises(ForbiddenDestination):
        await check_destination("http://[2002:7f00:1::]:8080/hook", allow_private=False)


@dataclasses.dataclass
class Listener:
    hits: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.hits += 1
        return web.Response(text="ok")


async def _attempted(running: Any) -> WebhookAttempt | None:
    """The first attempt once it is logged (a delivery counts attempts when claimed)."""
    found = await rows(running, WebhookAttempt)
    return found[0] if found else None


async def test_the_sender_refuses_an_ip_literal_it_may_not_reach(settings):
    """A subscription that points at 127.0.0.1 (stored before the setting was turned off, or
    by any path around the API's check) gets no request: the send-time guard refuses it."""
    closed = dataclasses.replace(
        settings, webhook_allow_private=False, http_port=free_port(), smtp_port=free_port()
    )
    listener, port = Listener(), free_port()
    async with (
        http_server(port, "POST", "/hooks", listener.handle),
        started(closed) as running,
        aiohttp.ClientSession() as http,
    ):
        async with running.desk.db.writer() as session:
            await add_user(session, email="root@localhost", role="admin", password="pw pw pw 1")
            session.add(
                WebhookSubscription(
                    url=f"http://127.0.0.1:{port}/hooks", events=["*"], secret="whsec_" + "A" * 44
                )
            )
        api = Api(base=f"http://127.0.0.1:{closed.http_port}", http=http)
        token = await api.token("root@localhost", "pw pw pw 1")
        status, _ = await api.call(
            "POST",
            "/api/tickets/",
            token,
            json={"subject": "hi", "description": "there", "customer_email": "c@example.com"},
        )
        assert status == 201
        attempt = await wait_for(lambda: _attempted(running), what="an attempt")
    assert listener.hits == 0
    assert "may not reach" in (attempt.error or "")
