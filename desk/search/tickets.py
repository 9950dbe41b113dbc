"""Ticket search: subjects, every message's text, and the customer's name and email, each
matched by the engine, merged per ticket (a ticket ranks by its best match; a subject match
counts double), filtered by the same access rule and filters as the ticket list, ranked,
paged, with a highlighted snippet of the best match.

Access is part of the query, not applied afterwards: internal notes are not candidates for
a customer at all (so neither they nor a snippet of them can surface), and only tickets
the caller may open are counted."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, String, func, literal, null, select, union_all

from desk.auth.access import message_filter
from desk.db import Database
from desk.models import Ticket, TicketMessage, User
from desk.search.engines import matches, snippets
from desk.search.syntax import check
from desk.tickets.events import ticket_data
from desk.tickets.queries import TicketFilter, conditions

SUBJECT_WEIGHT = 2.0


async def search_tickets(
    db: Database, user: User, query: str, f: TicketFilter, *, offset: int, limit: int
) -> tuple[int, list[dict[str, Any]], bool]:
    query = check(query)
    async with db.reader() as session:
        in_messages = matches(session, "ticket_messages", query).subquery()
        in_subjects = matches(session, "tickets", query).subquery()
        in_people = matches(session, "users", query).subquery()
        candidates = union_all(
            select(TicketMessage.ticket_id.label("ticket_id"), TicketMessage.id.label("message_id"),
                   in_messages.c.rank.label("rank"), literal("message", String).label("matched"))
            .join(in_messages, in_messages.c.id == TicketMessage.id)
            .where(message_filter(user)),
            select(in_subjects.c.id, null().cast(Integer), in_subjects.c.rank * SUBJECT_WEIGHT,
                   literal("subject", String)),
            select(Ticket.id, null().cast(Integer), in_people.c.rank, literal("customer", String))
            .join(in_people, in_people.c.id == Ticket.customer_id),
        ).subquery()  # fmt: skip
        ranked = select(
            candidates,
            func.row_number().over(partition_by=candidates.c.ticket_id,
                                   order_by=(candidates.c.rank.desc(),
                                             candidates.c.message_id.desc())).label("n"),
        ).subquery()  # fmt: skip
        best = select(ranked).where(ranked.c.n == 1).subquery()
        found = (
            select(Ticket, best.c.rank, best.c.message_id, best.c.matched)
            .join(best, best.c.ticket_id == Ticket.id)
            .where(*conditions(user, f))
        )
        count = int(await session.scalar(select(func.count()).select_from(found.subquery())) or 0)
        rows = (await session.execute(
            found.order_by(best.c.rank.desc(), Ticket.id.desc()).offset(offset).limit(limit + 1)
        )).all()  # fmt: skip
        more, rows = len(rows) > limit, rows[:limit]
        message_ids = [m for _, _, m, _ in rows if m is not None]
        passages = await snippets(session, "ticket_messages", "body_text", message_ids, query)
        subjects = await snippets(session, "tickets", "subject",
                                  [t.id for t, _, m, _ in rows if m is None], query)  # fmt: skip
    results = []
    for ticket, rank, message_id, matched in rows:
        snippet = passages.get(message_id, "") if message_id else subjects.get(ticket.id, "")
        results.append({**ticket_data(ticket), "rank": round(float(rank), 6), "matched": matched,
                        "message_id": message_id, "snippet": snippet})  # fmt: skip
    return count, results, more
