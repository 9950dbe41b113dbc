"""A desk with people in it (the `team` fixture in conftest): who they are, their tokens,
and the calls tests make as them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from desk.models import User
from tests.support import Api

PASSWORD = "correct horse 1"


@dataclass
class Team:
    api: Api
    users: dict[str, User] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def id(self, who: str) -> int:
        return self.users[who].id

    async def call(self, who: str | None, method: str, path: str, **kw: Any) -> tuple[int, Any]:
        return await self.api.call(method, path, self.tokens.get(who) if who else None, **kw)

    async def open_ticket(self, who: str, subject: str = "Help", **extra: Any) -> int:
        status, body = await self.call(
            who,
            "POST",
            "/api/tickets/",
            json={"subject": subject, "description": "It broke.", **extra},
        )
        assert status == 201, body
        return int(body["id"])
