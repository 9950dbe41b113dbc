"""What an inbox row shows beside the ticket's own fields (desk.tickets.queries.list_tickets
gives those): the customer's name and email, the assignee's name, and a preview of the
newest message the viewer may see. Two statements for a page of rows, whatever its size."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from desk.auth.access import messages_shown, ticket_filter, visibility
from desk.db import Database
from desk.models import Tag, Ticket, TicketMessage, TicketTag, User

PREVIEW_CHARS = 140


@dataclass(frozen=True)
class RowDetails:
    """One inbox row's people and preview (empty strings where there is none)."""

    customer_name: str = ""
    customer_email: str = ""
    assignee_name: str = ""
    preview: str = ""


# Built once: making an alias of a mapped class (and adapting its columns) on every call
# was a fifth of an inbox page's CPU.
CUSTOMER, ASSIGNEE = aliased(User, name="customer"), aliased(User, name="assignee")


async def row_details(db: Database, user: User, ticket_ids: Sequence[int]) -> dict[int, RowDetails]:
    """Details of each of `ticket_ids`, which the caller got from a list `user` may see.
    The preview is the newest message's new text (its quoted history left out), first
    PREVIEW_CHARS characters on one line; customers' previews never come from a note."""
    if not ticket_ids:
        return {}
    customer, assignee = CUSTOMER, ASSIGNEE
    newest = (
        select(func.max(TicketMessage.id))
        .where(TicketMessage.ticket_id.in_(ticket_ids), messages_shown(staff=user.is_staff))
        .group_by(TicketMessage.ticket_id)
    )
    async with db.reader() as session:
        people = await session.execute(
            select(Ticket.id, customer.name, customer.email, assignee.name, assignee.email)
            .outerjoin(customer, customer.id == Ticket.customer_id)
            .outerjoin(assignee, assignee.id == Ticket.assigned_agent_id)
            .where(Ticket.id.in_(ticket_ids))
        )
        previews = await session.execute(
            select(TicketMessage.ticket_id, TicketMessage.body_new, TicketMessage.body_text).where(
                TicketMessage.id.in_(newest)
            )
        )
    texts = {t: one_line(new or text or "") for t, new, text in previews}
    return {
        t: RowDetails(
            customer_name=c_name or "",
            customer_email=c_email or "",
            assignee_name=a_name or a_email or "",
            preview=texts.get(t, ""),
        )
        for t, c_name, c_email, a_name, a_email in people
    }


def one_line(text: str) -> str:
    """`text` with its whitespace runs folded to single spaces, cut at PREVIEW_CHARS."""
    flat = " ".join(text.split())
    return flat if len(flat) <= PREVIEW_CHARS else flat[: PREVIEW_CHARS - 1] + "…"


async def tag_names(db: Database, user: User) -> list[str]:
    """The tags on tickets `user` may see (desk.auth.access.ticket_filter), by name: the
    inbox offers a view per tag, and a tag only used on other queues' tickets is theirs."""
    async with db.reader() as session:
        return list(
            await session.scalars(
                select(Tag.name)
                .where(
                    Tag.id.in_(
                        select(TicketTag.tag_id)
                        .join(Ticket, Ticket.id == TicketTag.ticket_id)
                        .where(ticket_filter(user))
                    )
                )
                .order_by(Tag.name)
            )
        )


async def company_people(db: Database, user: User) -> list[tuple[int, str]]:
    """For a company admin, the people of their company as (id, "Name <email>"), to filter
    the company's requests by person; nobody for anyone else."""
    if visibility(user) != "company":
        return []
    async with db.reader() as session:
        found = await session.execute(
            select(User.id, User.name, User.email)
            .where(User.company_id == user.company_id, User.is_active.is_(True))
            .order_by(User.name, User.email)
        )
    return [(i, f"{name} <{email}>" if name else email) for i, name, email in found]
