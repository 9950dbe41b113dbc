"""Which queue a new ticket lands in (by the support address the customer wrote to) and which
address the queue's mail goes out from. Read by mail intake (desk/preload.py) and by every
writer of outgoing mail (desk/tickets/service.py, desk/tickets/notify.py)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.config import Settings
from desk.models import Queue, QueueAddress, QueueMember, QueueRole, Role, Ticket, User

# Which of a queue's addresses its mail goes out from: the first by position, then name.
_FIRST_ADDRESS = (QueueAddress.position, QueueAddress.address)


@dataclass(frozen=True)
class QueueRoutes:
    """Every queue address (lower case), each queue's first address (the From of its mail)
    and the default queue: a few rows, read once per batch of mail."""

    default_id: int
    by_address: dict[str, int] = field(default_factory=dict)
    first_address: dict[int, str] = field(default_factory=dict)  # by queue id
    names: dict[int, str] = field(default_factory=dict)  # by queue id, the default's left out

    def route(self, recipients: Iterable[str]) -> int:
        """The queue of the first recipient that names one, else the default queue. A reply
        token (`billing+<token>@…`) names the queue of its base address."""
        for address in recipients:
            local, _, domain = address.strip().strip("<>").lower().rpartition("@")
            base = local.partition("+")[0]
            found = self.by_address.get(f"{base}@{domain}")
            if found is not None:
                return found
        return self.default_id


def from_the_desk(address: str, routes: QueueRoutes, settings: Settings) -> bool:
    """Whether `address` is one of the desk's own: a support address, a queue's, or a
    reply address (`+token`) of one. Mail sent from one is our own mail come back (an
    alias or a forward that loops), not a customer writing."""
    local, _, domain = address.strip().lower().rpartition("@")
    base = f"{local.partition('+')[0]}@{domain}"
    return base in routes.by_address or base in {a.lower() for a in settings.support_addresses}


async def load_routes(session: AsyncSession) -> QueueRoutes:
    """In one statement (mail intake reads them for every batch): each queue with its
    addresses, a queue without any in one row with none."""
    rows = (
        await session.execute(
            select(Queue.id, Queue.is_default, QueueAddress.address, Queue.name)
            .outerjoin(QueueAddress, QueueAddress.queue_id == Queue.id)
            .order_by(*_FIRST_ADDRESS)
        )
    ).all()
    default = next((queue_id for queue_id, is_default, *_ in rows if is_default), None)
    if default is None:
        raise RuntimeError("no default queue: the database is not migrated")
    routes = QueueRoutes(default)
    for queue_id, is_default, address, name in rows:
        if not is_default:
            routes.names[queue_id] = name
        if address is not None:
            routes.by_address[address] = queue_id
            routes.first_address.setdefault(queue_id, address)
    return routes


async def default_queue_id(session: AsyncSession) -> int:
    """The queue that catches the rest (migration 0018 makes it; it can be handed on, never
    removed)."""
    found = await session.scalar(select(Queue.id).where(Queue.is_default.is_(True)).limit(1))
    if found is None:
        raise RuntimeError("no default queue: the database is not migrated")
    return found


async def sender_name(
    session: AsyncSession, ticket: Ticket, settings: Settings, routes: QueueRoutes | None = None
) -> str:
    """Who mail about `ticket` is from, by name: its queue's name, or the desk's for the
    default queue (a reply from billing@ reads "Ann (Billing)", not the desk's name; its
    acknowledgement and notices "Billing"). `routes`: when the caller read them already for
    a batch (mail intake); else the queue is read now."""
    if routes is not None:
        return routes.names.get(ticket.queue_id, settings.desk_name)
    queue = await session.get(Queue, ticket.queue_id)
    return settings.desk_name if queue is None or queue.is_default else queue.name


async def sending_address(
    session: AsyncSession, ticket: Ticket, settings: Settings, routes: QueueRoutes | None = None
) -> str:
    """The From of mail about `ticket`: the support address the customer wrote to when the
    ticket remembers it and the desk still has it, else its queue's first address, else the
    desk's support address. `routes`: when the caller read them already for a batch (mail
    intake); else the queue's first address is read now."""
    if ticket.support_address and ticket.support_address in settings.support_addresses:
        return ticket.support_address
    if routes is not None:
        first = routes.first_address.get(ticket.queue_id)
    else:
        first = await session.scalar(
            select(QueueAddress.address)
            .where(QueueAddress.queue_id == ticket.queue_id)
            .order_by(*_FIRST_ADDRESS)
            .limit(1)
        )
    return first or settings.support_address


async def join_default_queue(session: AsyncSession, user: User) -> None:
    """New staff work the default queue, as every agent did before queues: admins as its
    admins, agents as users; hearing of new tickets is theirs to turn on (before queues,
    nobody was told of them)."""
    if not user.is_staff:
        return
    queue_id = await default_queue_id(session)
    if await session.get(QueueMember, (queue_id, user.id)) is not None:
        return
    role = QueueRole.ADMIN if user.role == Role.ADMIN else QueueRole.USER
    session.add(
        QueueMember(
            queue_id=queue_id,
            user_id=user.id,
            role=role.value,
            notify_new_tickets=False,
            mail_new_tickets=False,
        )
    )
