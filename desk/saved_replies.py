"""Saved replies: the team's shared library of answers, inserted from the composer.

A reply's body may name placeholders as `{{ name }}` (spaces optional), filled in for the
ticket it goes into; the names are a fixed set (PLACEHOLDERS), so a body is plain text with
holes, never a template language that could run anything. Saving a body that names any
other `{{ ... }}` is a 400 listing the known names.

Who may do what: every active agent and admin reads, renders and creates; the author edits
and deletes their own, a site admin any. Customers: 403. Rendering checks the ticket as
every ticket endpoint does (404 for one the caller may not see)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from desk.auth.access import can_see_ticket
from desk.context import Desk
from desk.db import Database
from desk.errors import NotFound, PermissionDenied, ValidationFailed
from desk.mail.threading import subject_tag
from desk.models import Role, SavedReply, Ticket, User, utcnow
from desk.tickets.errors import TicketNotFound

MAX_TITLE, MAX_BODY = 200, 20_000
# `{{` up to the next `}}`: every such hole must name a placeholder.
HOLE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)


class Filling:
    """What a placeholder is filled from: the ticket, its customer and the agent."""

    def __init__(self, ticket: Ticket, customer: User | None, agent: User, prefix: str) -> None:
        self.ticket, self.customer, self.agent, self.prefix = ticket, customer, agent, prefix


def _person_name(person: User | None) -> str:
    """The name, or the address's local part for someone who never gave one."""
    if person is None:
        return ""
    return person.name or person.email.partition("@")[0]


PLACEHOLDERS: dict[str, Callable[[Filling], str]] = {
    "customer.name": lambda f: _person_name(f.customer),
    "customer.first_name": lambda f: _person_name(f.customer).split(" ")[0],
    "customer.email": lambda f: f.customer.email if f.customer else "",
    "ticket.id": lambda f: str(f.ticket.id),
    "ticket.number": lambda f: str(f.ticket.id),  # plain `42`: "#{{ticket.number}}" reads "#42"
    "ticket.tag": lambda f: subject_tag(f.ticket.id, f.prefix),  # `[#42]`, as in subjects
    "ticket.subject": lambda f: f.ticket.subject,
    "agent.name": lambda f: _person_name(f.agent),
    "agent.first_name": lambda f: _person_name(f.agent).split(" ")[0],
    "agent.email": lambda f: f.agent.email,
}


def placeholders_in(body: str) -> list[str]:
    """The placeholders `body` names, in order of first use. ValidationFailed (400) for a
    hole naming anything else."""
    names: list[str] = []
    for hole in HOLE.finditer(body):
        name = hole.group(1).strip()
        if name not in PLACEHOLDERS:
            raise ValidationFailed(
                f"unknown placeholder {{{{{name[:60]}}}}}; known: {', '.join(PLACEHOLDERS)}",
                field="body",
                placeholder=name[:60],
                known=list(PLACEHOLDERS),
            )
        if name not in names:
            names.append(name)
    return names


def fill(body: str, filling: Filling) -> str:
    """`body` with each placeholder replaced (the body was checked when it was saved)."""
    return HOLE.sub(lambda m: PLACEHOLDERS[m.group(1).strip()](filling), body)


def reply_data(reply: SavedReply) -> dict[str, Any]:
    """{id, title, body, placeholders, created_by, created_at, updated_at}"""
    return {
        "id": reply.id,
        "title": reply.title,
        "body": reply.body,
        "placeholders": placeholders_in(reply.body),
        "created_by": reply.created_by_id,
        "created_at": reply.created_at,
        "updated_at": reply.updated_at,
    }


def _require_staff(user: User) -> None:
    if not (user.is_active and user.is_staff):
        raise PermissionDenied("saved replies are for agents and admins")


def _checked(title: str | None, body: str | None) -> None:
    if title is not None and not title.strip():
        raise ValidationFailed("a saved reply needs a title", field="title")
    if body is not None:
        if not body.strip():
            raise ValidationFailed("a saved reply needs a body", field="body")
        placeholders_in(body)


async def list_replies(db: Database, user: User) -> list[dict[str, Any]]:
    """Every saved reply, by title (the library is shared by the whole team)."""
    _require_staff(user)
    async with db.reader() as session:
        rows = await session.scalars(select(SavedReply).order_by(SavedReply.title, SavedReply.id))
        return [reply_data(r) for r in rows]


async def get_reply(db: Database, user: User, reply_id: int) -> dict[str, Any]:
    _require_staff(user)
    async with db.reader() as session:
        return reply_data(await _found(session, reply_id))


async def _found(session: Any, reply_id: int) -> SavedReply:
    reply: SavedReply | None = await session.get(SavedReply, reply_id)
    if reply is None:
        raise NotFound(f"no saved reply {reply_id}")
    return reply


async def create_reply(desk: Desk, user: User, title: str, body: str) -> dict[str, Any]:
    _require_staff(user)
    _checked(title, body)
    async with desk.db.writer() as session:
        reply = SavedReply(title=title.strip(), body=body, created_by_id=user.id)
        session.add(reply)
        await session.flush()
        return reply_data(reply)


def _require_editor(user: User, reply: SavedReply) -> None:
    if user.role != Role.ADMIN and reply.created_by_id != user.id:
        raise PermissionDenied("only the reply's author or an admin changes it")


async def update_reply(
    desk: Desk, user: User, reply_id: int, *, title: str | None, body: str | None
) -> dict[str, Any]:
    _require_staff(user)
    _checked(title, body)
    async with desk.db.writer() as session:
        reply = await _found(session, reply_id)
        _require_editor(user, reply)
        if title is not None:
            reply.title = title.strip()
        if body is not None:
            reply.body = body
        reply.updated_at = utcnow()
        await session.flush()
        return reply_data(reply)


async def delete_reply(desk: Desk, user: User, reply_id: int) -> None:
    _require_staff(user)
    async with desk.db.writer() as session:
        reply = await _found(session, reply_id)
        _require_editor(user, reply)
        await session.delete(reply)


async def render_reply(desk: Desk, user: User, reply_id: int, ticket_id: int) -> dict[str, Any]:
    """{"id", "title", "body", "ticket_id"}: the body filled in for the ticket, which the
    caller must be able to see (404 otherwise)."""
    async with desk.db.reader() as session:
        ticket = await session.get(Ticket, ticket_id)
        if ticket is None or not can_see_ticket(user, ticket):
            raise TicketNotFound(f"no ticket {ticket_id}")
        _require_staff(user)  # after the ticket: as REST, an unseen ticket is a 404
        reply = await _found(session, reply_id)
        customer = await session.get(User, ticket.customer_id)
        filling = Filling(ticket, customer, user, desk.settings.ticket_prefix)
        return {
            "id": reply.id,
            "title": reply.title,
            "body": fill(reply.body, filling),
            "ticket_id": ticket.id,
        }
