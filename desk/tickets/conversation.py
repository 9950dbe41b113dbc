"""A ticket as the agent's conversation page shows it: the API's ticket (ticket_detail, so
the same access rules and the same messages), and around it what a person needs to work
it: who wrote and who changed what (names, not ids), who each mail was addressed to, the
history, the people the ticket may be assigned to, the customer with their company and
other tickets. Read only; every change goes through desk.tickets.service and workflow."""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.auth.access import can_see_ticket
from desk.blobs import blob_path
from desk.db import Database
from desk.errors import NotFound
from desk.mail.parse import addressees
from desk.models import (
    TEAM_ONLY,
    Attachment,
    Company,
    InboundMail,
    MessageKind,
    OutboxMail,
    OutboxState,
    QueueMember,
    Role,
    Ticket,
    TicketMessage,
    User,
)
from desk.tickets.queries import TicketFilter, list_tickets, ticket_detail, ticket_history

# A mail's header block fits in this many bytes (Postfix's header limit is 100 KiB, but a
# To/Cc past the first 64 KiB is not worth reading a whole mail for).
HEAD_BYTES = 64 * 1024
OTHER_TICKETS = 10

Pair = tuple[str, str]  # (name, address)


@dataclass(frozen=True)
class Addressed:
    """Who one message was addressed to: the headers of a mail that came in, or the
    recipients of the reply the desk sent. For a reply the relay has not taken,
    `undelivered` says so in a sentence with the relay's last answer (empty once sent)."""

    to: list[Pair] = field(default_factory=list)
    cc: list[Pair] = field(default_factory=list)
    undelivered: str = ""


@dataclass(frozen=True)
class Conversation:
    """`ticket` is ticket_detail's answer; `people` maps user ids (authors, actors, the
    customer, the assignable) to {"name", "email", "role"}; `addressed` maps message ids
    to their recipients; `assignable` lists the user ids the ticket may be given to (its
    queue's active staff and the site admins), by name."""

    ticket: dict[str, Any]
    history: list[dict[str, Any]]
    people: dict[int, dict[str, str]]
    addressed: dict[int, Addressed]
    assignable: list[int]
    company: str | None
    other_tickets: list[dict[str, Any]]


async def read_conversation(db: Database, user: User, ticket_id: int) -> Conversation:
    """TicketNotFound (404) when `user` may not see the ticket, exactly as the API."""
    ticket = await ticket_detail(db, user, ticket_id)
    history = await ticket_history(db, user, ticket_id)
    others = await list_tickets(
        db,
        user,
        TicketFilter(customer=ticket["customer_id"], archived="all"),
        offset=0,
        limit=OTHER_TICKETS + 1,
    )
    messages = ticket["messages"]
    async with db.reader() as session:
        assignable = list(
            await session.scalars(
                select(User.id)
                .outerjoin(
                    QueueMember,
                    (QueueMember.user_id == User.id) & (QueueMember.queue_id == ticket["queue_id"]),
                )
                .where(
                    User.is_active,
                    or_(User.role == Role.ADMIN.value, QueueMember.user_id.is_not(None)),
                    User.role.in_((Role.AGENT.value, Role.ADMIN.value)),
                )
                .order_by(User.name, User.id)
            )
        )
        wanted = {m["author_id"] for m in messages} | {c["actor_id"] for c in history}
        wanted |= set(_agents_in(history))  # the history shows names, not ids
        wanted |= {ticket["customer_id"], ticket["assigned_agent_id"], *assignable}
        people = {
            u.id: {"name": u.name or u.email, "email": u.email, "role": u.role}
            for u in await session.scalars(
                select(User).where(User.id.in_([i for i in wanted if i is not None]))
            )
        }
        company = (
            await session.scalar(select(Company.name).where(Company.id == ticket["company_id"]))
            if ticket["company_id"] is not None
            else None
        )
        addressed = await _addressed(session, ticket_id, messages)
    return Conversation(
        ticket=ticket,
        history=history,
        people=people,
        addressed=addressed,
        assignable=assignable,
        company=company,
        other_tickets=[t for t in others.results if t["id"] != ticket_id][:OTHER_TICKETS],
    )


def _agents_in(history: list[dict[str, Any]]) -> list[int]:
    """The user ids the history's assignment changes name (from and to)."""
    return [
        int(v)
        for c in history
        if c["field"] == "assigned_agent"
        for v in (c["from"], c["to"])
        if v is not None and str(v).isdigit()
    ]


async def _addressed(
    session: AsyncSession, ticket_id: int, messages: list[dict[str, Any]]
) -> dict[int, Addressed]:
    """Mail that came in: its To and Cc headers (from the stored raw mail, while it is
    kept). The desk's replies: the recipients their outbox row was queued with."""
    found: dict[int, Addressed] = {}
    inbound = await session.execute(
        select(TicketMessage.id, func.substr(InboundMail.raw, 1, HEAD_BYTES))
        .join(InboundMail, InboundMail.id == TicketMessage.inbound_id)
        .where(TicketMessage.ticket_id == ticket_id, InboundMail.raw_removed_at.is_(None))
    )
    for message_id, head in inbound:
        if head:
            to, cc = addressees(bytes(head))
            found[message_id] = Addressed(to, cc)
    sent = {m["message_id"]: m["id"] for m in messages if m["kind"] == MessageKind.OUTBOUND}
    if sent:
        rows = await session.execute(
            select(OutboxMail).where(
                OutboxMail.ticket_id == ticket_id, OutboxMail.message_id.in_(list(sent))
            )
        )
        for queued in rows.scalars():
            if queued.spec:
                found[sent[queued.message_id]] = _from_spec(queued.spec, undelivered(queued))
    return found


def _from_spec(spec: dict[str, Any], problem: str) -> Addressed:
    """desk.mail.compose.Outgoing as queued (asdict: its pairs are lists in JSON)."""
    to = [(spec.get("to_name") or "", spec["to_address"])]
    to += [(n or "", a) for n, a in _pairs(spec.get("also_to"))]
    return Addressed(to, [(n or "", a) for n, a in _pairs(spec.get("cc"))], problem)


def undelivered(queued: OutboxMail) -> str:
    """What the agent must know about a reply the relay has not taken: given up (a
    permanent refusal, 48 hours of temporary ones, a send interrupted), refused to a
    suppressed address, or being retried after a temporary refusal; "" when it was sent or
    is simply waiting for its first try."""
    reason = (queued.last_error or "").strip().rstrip(".")
    if queued.state == OutboxState.FAILED:
        return f"Not delivered: {reason or 'the relay refused it'}."
    if queued.state == OutboxState.SUPPRESSED:
        return "Not sent: the address is suppressed after a bounce or complaint."
    if queued.state == OutboxState.PENDING and queued.attempts > 0:
        return f"Not sent yet, trying again: {reason or 'the relay did not take it'}."
    return ""


def _pairs(value: Iterable[Any] | None) -> list[tuple[str, str]]:
    return [(str(p[0] or ""), str(p[1])) for p in value or ()]


async def visible_message(db: Database, user: User, message_id: int) -> TicketMessage:
    """A message `user` may read: on a ticket they may see, and not team-only unless they
    are staff (visible_attachment's rule). Anything else is 404, whether or not it exists."""
    async with db.reader() as session:
        row = (
            await session.execute(
                select(TicketMessage, Ticket)
                .join(Ticket, Ticket.id == TicketMessage.ticket_id)
                .where(TicketMessage.id == message_id)
            )
        ).first()
    if row is None:
        raise NotFound(f"no message {message_id}")
    message, ticket = row
    if not can_see_ticket(user, ticket) or (message.kind in TEAM_ONLY and not user.is_staff):
        raise NotFound(f"no message {message_id}")
    return message


# Images a mail embeds (`<img src="cid:...">`) are shown from the mail itself, as data:
# URIs: the frame that shows mail HTML may load nothing from anywhere (not even from us:
# its sandbox has no origin, so our cookie would not go with the request).
EMBEDDED_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
EMBEDDED_MAX_BYTES = 5 * 1024 * 1024
_CID_SOURCE = re.compile(r'src="cid:([^"]{1,998})"', re.IGNORECASE)


async def html_with_embedded_images(
    db: Database, attachments_dir: Path, message: TicketMessage
) -> str:
    """The message's stored (sanitized) HTML with each `cid:` image that is one of its own
    attachments (an image, up to EMBEDDED_MAX_BYTES) written in as a data: URI."""
    html = message.body_html
    if "cid:" not in html.lower():
        return html
    async with db.reader() as session:
        found = await session.scalars(
            select(Attachment).where(
                Attachment.ticket_message_id == message.id,
                Attachment.content_id != "",
                Attachment.content_type.in_(EMBEDDED_TYPES),
                Attachment.size <= EMBEDDED_MAX_BYTES,
            )
        )
        by_cid = {a.content_id.strip().strip("<>").lower(): a for a in found}
    if not by_cid:
        return html
    uris = await asyncio.to_thread(_data_uris, attachments_dir, by_cid)

    def embedded(match: re.Match[str]) -> str:
        uri = uris.get(unescape(match.group(1)).lower())
        return f'src="{uri}"' if uri else match.group(0)

    return _CID_SOURCE.sub(embedded, html)


def _data_uris(root: Path, by_cid: dict[str, Attachment]) -> dict[str, str]:
    uris = {}
    for cid, a in by_cid.items():
        try:
            data = blob_path(root, a.sha256).read_bytes()
        except OSError:
            continue  # a file erased or lost: the image shows as missing, the mail still does
        uris[cid] = f"data:{a.content_type};base64,{base64.b64encode(data).decode('ascii')}"
    return uris
