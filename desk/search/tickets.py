"""Ticket search: subjects, every message's text, and the customer's name and email, each
matched by the engine, merged per ticket (a ticket ranks by its best match; a subject match
counts double), filtered by the same access rule and filters as the ticket list, ranked,
paged, with a highlighted snippet of the best match.

Access is part of the query, not applied afterwards: internal notes are not candidates for
a customer at all (so neither they nor a snippet of them can surface), and only tickets
the caller may open are counted."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Integer,
    Row,
    Select,
    String,
    Subquery,
    func,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from desk.auth.access import message_filter, ticket_filter
from desk.db import Database
from desk.models import Ticket, TicketMessage, User
from desk.search.engines import is_postgres, restrict, snippets
from desk.search.syntax import check, contradictory
from desk.tickets.events import ticket_fields
from desk.tickets.queries import TicketFilter, board_column, conditions

SUBJECT_WEIGHT = 2.0
CANDIDATES = 200
RECENT_MESSAGES = 100_000


async def search_tickets(
    db: Database, user: User, query: str, f: TicketFilter, *, offset: int, limit: int
) -> tuple[int, list[dict[str, Any]], bool]:
    query = check(query)
    if contradictory(query):
        return 0, [], False
    async with db.searcher() as session:
        best = await _best_matches(session, user, query)
        found = _found(user, f, best)
        count, rows, more = await _page(session, found, best, offset=offset, limit=limit)
        passages, subjects = await _snippets(session, rows, query)
    return count, [_result(r, passages, subjects) for r in rows], more


async def _best_matches(session: AsyncSession, user: User, query: str) -> Subquery:
    """Each matching ticket's best match (message, subject or customer) that `user` may see."""
    candidates = union_all(
        await _newest_messages(session, _in_messages(session, user, query)),
        _newest(_in_subjects(session, user, query)),
        _newest(_in_customers(session, user, query)),
    ).subquery()
    ranked = select(
        candidates,
        func.row_number()
        .over(
            partition_by=candidates.c.ticket_id,
            order_by=(candidates.c.rank.desc(), candidates.c.message_id.desc()),
        )
        .label("n"),
    ).subquery()
    return select(ranked).where(ranked.c.n == 1).subquery()


def _found(user: User, f: TicketFilter, best: Subquery) -> Select[Any]:
    """The tickets behind `best` that pass the list's filters, with their match and the total."""
    # Rows, not ORM objects: a page of 50 is built from them directly.
    return (
        select(
            Ticket.__table__,
            *board_column(user),
            best.c.rank,
            best.c.message_id,
            best.c.matched,
            func.count().over().label("total"),
        )
        .join(best, best.c.ticket_id == Ticket.id)
        .where(*conditions(user, f))
    )


async def _page(
    session: AsyncSession, found: Select[Any], best: Subquery, *, offset: int, limit: int
) -> tuple[int, list[Row[Any]], bool]:
    """The total, the page's rows (best ranked first) and whether more follow."""
    rows = list(
        (
            await session.execute(
                found.order_by(best.c.rank.desc(), Ticket.id.desc()).offset(offset).limit(limit + 1)
            )
        ).all()
    )
    if rows:
        count = int(rows[0].total)
    else:  # past the last page: count without it
        count = int(await session.scalar(select(func.count()).select_from(found.subquery())) or 0)
    return count, rows[:limit], len(rows) > limit


async def _snippets(
    session: AsyncSession, rows: list[Row[Any]], query: str
) -> tuple[dict[int, str], dict[int, str]]:
    """Highlighted passages of the matched messages, and of the matched subjects."""
    passages = await snippets(
        session,
        "ticket_messages",
        "body_text",
        [r.message_id for r in rows if r.message_id],
        query,
    )
    subjects = await snippets(
        session, "tickets", "subject", [r.id for r in rows if not r.message_id], query
    )
    return passages, subjects


def _result(r: Row[Any], passages: dict[int, str], subjects: dict[int, str]) -> dict[str, Any]:
    snippet = passages.get(r.message_id, "") if r.message_id else subjects.get(r.id, "")
    return {
        **ticket_fields(r._mapping),
        "rank": round(float(r.rank), 6),
        "matched": r.matched,
        "message_id": r.message_id,
        "snippet": snippet,
    }


def _in_messages(session: AsyncSession, user: User, query: str) -> Select[Any]:
    base = (
        select(TicketMessage.ticket_id.label("ticket_id"))
        .join(Ticket, Ticket.id == TicketMessage.ticket_id)
        .where(ticket_filter(user), message_filter(user))
    )
    # Staff see much of the desk: the engine's newest matches drive the join. A customer
    # sees a few tickets: their rows drive it, each looked up in the index (`few`).
    stmt, rank, newest = restrict(
        session, base, "ticket_messages", TicketMessage.id, query, few=not user.is_staff
    )
    return stmt.add_columns(
        TicketMessage.id.label("message_id"),
        rank.label("rank"),
        literal("message", String).label("matched"),
    ).order_by(newest.desc())


def _in_subjects(session: AsyncSession, user: User, query: str) -> Select[Any]:
    base = select(Ticket.id).where(ticket_filter(user))
    stmt, rank, newest = restrict(session, base, "tickets", Ticket.id, query, few=not user.is_staff)
    return stmt.add_columns(
        null().cast(Integer), rank * SUBJECT_WEIGHT, literal("subject", String)
    ).order_by(newest.desc())


def _in_customers(session: AsyncSession, user: User, query: str) -> Select[Any]:
    base = select(Ticket.id).join(User, User.id == Ticket.customer_id).where(ticket_filter(user))
    stmt, rank, _ = restrict(session, base, "users", User.id, query, few=not user.is_staff)
    return stmt.add_columns(null().cast(Integer), rank, literal("customer", String)).order_by(
        Ticket.id.desc()
    )


def _newest(source: Select[Any]) -> Any:
    """The newest CANDIDATES matches of one source that the caller may see. A word in most
    of the desk's mail then costs what a rare one does: the engine stops after this many
    (newest first) instead of ranking every match; a rare word has fewer anyway."""
    return select(source.limit(CANDIDATES).subquery())


async def _newest_messages(session: AsyncSession, source: Select[Any]) -> Any:
    """On PostgreSQL, the newest CANDIDATES matching messages are looked for among the
    newest RECENT_MESSAGES first, and among the older ones only if those hold too few.
    The result is the same; the work is not: a phrase found in 1% of the mail otherwise
    makes PostgreSQL either walk 60,000 rows newest-first or fetch every match (both
    50-80 ms on a million messages); its matches in the recent window are found through
    both indexes at once (about 15 ms). This relies on UNION ALL under a LIMIT being
    read part by part, in order, which it is on the search connections (no parallel
    plans there): when the recent part fills the LIMIT, the older part never runs."""
    if not is_postgres(session):
        return _newest(source)
    newest = await session.scalar(select(func.max(TicketMessage.id)))
    floor = (newest or 0) - RECENT_MESSAGES
    if floor <= 0:
        return _newest(source)
    recent = source.where(TicketMessage.id > floor).limit(CANDIDATES)
    older = source.where(TicketMessage.id <= floor).limit(CANDIDATES)
    return select(union_all(recent, older).subquery()).limit(CANDIDATES)
