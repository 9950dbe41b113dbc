"""Slow or many clients cannot hold the web server's file descriptors: request headers must
arrive within POSTDESK_HTTP_HEADER_SECONDS, and one process holds at most
POSTDESK_HTTP_MAX_CONNECTIONS connections. Raw sockets, as an attacker would use them."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import pytest

from daemon.lifecycle import Running, started
from desk.config import Settings
from tests.support import free_port


@pytest.fixture
async def tight(settings: Settings) -> AsyncIterator[Running]:
    bounded = dataclasses.replace(
        settings,
        http_port=free_port(),
        smtp_port=free_port(),
        http_header_seconds=0.5,
        http_max_connections=3,
    )
    async with started(bounded) as running:
        yield running


async def _connect(running: Running) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", running.desk.settings.http_port)


async def _get(running: Running) -> bytes:
    reader, writer = await _connect(running)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        return await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()


async def test_a_client_that_dribbles_its_headers_is_disconnected(tight: Running):
    reader, writer = await _connect(tight)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")

    async def dribble() -> None:
        while not writer.is_closing():
            writer.write(b"X")  # a header that never ends, a byte at a time
            await asyncio.sleep(0.05)

    task = asyncio.create_task(dribble())
    try:
        async with asyncio.timeout(10):  # the bound is 0.5 s; without it, never
            assert await reader.read() == b""
    finally:
        task.cancel()
        writer.close()


async def test_connections_over_the_cap_are_answered_503(tight: Running):
    held = [await _connect(tight) for _ in range(3)]
    held[0][1].write(b"G")  # open, and sending nothing useful
    async with asyncio.timeout(10):
        reader, writer = await _connect(tight)
        answer = await reader.read()
    assert answer.startswith(b"HTTP/1.1 503")
    writer.close()
    for _, w in [*held, (reader, writer)]:
        w.close()
        await w.wait_closed()
    # Once they are gone, requests are served again (the server drops them at once on EOF).
    async with asyncio.timeout(10):
        while True:
            answer = await _get(tight)
            if not answer.startswith(b"HTTP/1.1 503"):
                break
            await asyncio.sleep(0.05)
    assert answer.startswith(b"HTTP/1.1 200")
