"""AI reply drafts through the real google-genai SDK, pointed at a local HTTP server that
speaks Gemini's REST shape (the only thing mocked: Google's servers). The request that
leaves postdesk is checked as well as the answer."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from daemon.lifecycle import started
from desk.people import add_user
from tests.people import PASSWORD, Team
from tests.support import Api, free_port, http_server, make_mail, send, settled

API_KEY = "gemini-key-for-tests"
MODEL = "gemini-test-flash"


@dataclasses.dataclass
class GeminiStub:
    port: int
    requests: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    answer: str = "Hello Carol,\n\nPlease restart the printer.\n\nBest, Agent1"
    status: int = 200
    delay: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def generate(self, request: web.Request) -> web.Response:
        self.requests.append(
            {
                "path": request.path,
                "key": request.headers.get("x-goog-api-key"),
                "body": await request.json(),
            }
        )
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.status != 200:
            return web.json_response(
                {
                    "error": {
                        "code": self.status,
                        "message": "quota exhausted",
                        "status": "RESOURCE_EXHAUSTED",
                    }
                },
                status=self.status,
            )
        return web.json_response(
            {
                "candidates": [
                    {
                        "content": {"parts": [{"text": self.answer}], "role": "model"},
                        "finishReason": "STOP",
                        "index": 0,
                    }
                ],
                "usageMetadata": {
                    "promptTokenCount": 10,
                    "candidatesTokenCount": 5,
                    "totalTokenCount": 15,
                },
                "modelVersion": MODEL,
            }
        )

    @property
    def prompt(self) -> str:
        body = self.requests[-1]["body"]
        return "\n".join(p["text"] for c in body["contents"] for p in c["parts"])

    @property
    def system(self) -> str:
        return "\n".join(p["text"] for p in self.requests[-1]["body"]["systemInstruction"]["parts"])


@pytest.fixture
async def gemini() -> AsyncIterator[GeminiStub]:
    stub = GeminiStub(free_port())
    async with http_server(stub.port, "POST", "/{version}/models/{model_action}", stub.generate):
        yield stub


@pytest.fixture
def env(env: dict[str, str], gemini: GeminiStub) -> dict[str, str]:
    return {
        **env,
        "POSTDESK_GEMINI_API_KEY": API_KEY,
        "POSTDESK_GEMINI_BASE_URL": gemini.url,
        "POSTDESK_GEMINI_MODEL": MODEL,
        "POSTDESK_GEMINI_TIMEOUT_SECONDS": "2",
    }


async def _draft(team: Team, who: str, ticket: int) -> tuple[int, Any]:
    return await team.call(who, "POST", f"/api/tickets/{ticket}/ai-draft/")


async def test_a_draft_comes_back_from_this_conversation_only(team: Team, daemon, gemini):
    ticket = await team.open_ticket(
        "carol", "Printer on fire", description="Mein Drucker brennt. Was tun?"
    )
    other = await team.open_ticket("dave", "Dave's secret", description="My PIN is 4711")
    status, _ = await team.call(
        "admin",
        "POST",
        f"/api/tickets/{ticket}/messages/",
        json={"body": "Carol is a VIP; refund allowed", "is_internal": True},
    )
    assert status == 201
    # A customer reply by mail that quotes the whole history: only its new text is sent.
    quoted = "Still burning!\n\nOn Mon, Agent wrote:\n> QUOTED-OLD-TEXT\n> more quoted\n"
    raw, _ = make_mail(
        sender="carol@example.com", subject=f"Re: [#{ticket}] Printer on fire", body=quoted
    )
    await send(daemon.smtp_port, raw, sender="carol@example.com")
    await settled(daemon, 1)

    status, body = await _draft(team, "agent1", ticket)
    assert status == 200, body
    assert body == {"ticket_id": ticket, "draft": gemini.answer, "model": MODEL}
    [request] = gemini.requests
    assert request["path"].endswith(f"/models/{MODEL}:generateContent")
    assert request["key"] == API_KEY
    prompt = gemini.prompt
    assert "Mein Drucker brennt" in prompt and "Still burning!" in prompt
    assert "INTERNAL NOTE" in prompt and "Carol is a VIP" in prompt
    assert "QUOTED-OLD-TEXT" not in prompt  # quoted history trimmed
    assert "4711" not in prompt and "Dave" not in prompt and f"#{other}" not in prompt
    assert "language the customer writes in" in gemini.system
    assert "never quote or reveal" in gemini.system
    # Nothing was sent or stored: the ticket has the same three messages.
    _, detail = await team.call("agent1", "GET", f"/api/tickets/{ticket}/")
    assert len(detail["messages"]) == 3


async def test_only_staff_who_may_open_the_ticket_get_drafts(team: Team, daemon, gemini):
    ticket = await team.open_ticket("carol", "Mine")
    await team.call(
        "admin",
        "POST",
        f"/api/tickets/{ticket}/assign/",
        json={"assigned_agent": team.id("agent1")},
    )
    assert (await _draft(team, "carol", ticket))[0] == 403
    assert (await _draft(team, "agent2", ticket))[0] == 404  # not theirs to see
    assert (await _draft(team, None, ticket))[0] == 401
    assert (await _draft(team, "admin", ticket))[0] == 200
    assert len(gemini.requests) == 1


async def test_upstream_errors_and_timeouts_are_told_apart(team: Team, daemon, gemini):
    ticket = await team.open_ticket("carol", "Slow model")
    gemini.status = 429
    status, body = await _draft(team, "admin", ticket)
    assert status == 502 and body["error"] == "ai_upstream_error"
    assert "429" in body["message"] and "quota exhausted" in body["message"]
    gemini.status, gemini.delay = 200, 5  # longer than the 2-second setting
    status, body = await _draft(team, "admin", ticket)
    assert status == 504 and body["error"] == "ai_timeout"
    gemini.delay, gemini.answer = 0, ""
    status, body = await _draft(team, "admin", ticket)
    assert status == 502 and "no draft" in body["message"]


async def test_without_a_key_drafts_are_unavailable(settings):
    off = dataclasses.replace(
        settings, gemini_api_key=None, http_port=free_port(), smtp_port=free_port()
    )
    async with started(off) as running, aiohttp.ClientSession() as http:
        async with running.desk.db.writer() as session:
            await add_user(session, email="boss@localhost", role="admin", password=PASSWORD)
            await add_user(session, email="cy@example.com", role="customer", password=PASSWORD)
        api = Api(base=f"http://127.0.0.1:{off.http_port}", http=http)
        team = Team(api)
        team.tokens = {
            "boss": await api.token("boss@localhost", PASSWORD),
            "cy": await api.token("cy@example.com", PASSWORD),
        }
        ticket = await team.open_ticket("cy", "No AI here")
        status, body = await _draft(team, "boss", ticket)
        assert status == 503 and body["error"] == "ai_unavailable"
