"""The prompt for a reply draft, built from one ticket and nothing else, so no other
customer's words can reach the model. Quoted history is left out (each message's new text
only: earlier messages are in the conversation anyway), internal notes are marked as such,
and the whole is bounded: the newest messages are kept when it would be too long."""

from __future__ import annotations

from dataclasses import dataclass

from desk.models import MessageKind, Ticket, TicketMessage, User

MAX_PROMPT_CHARS = 24_000
MAX_MESSAGE_CHARS = 4_000

SYSTEM = (
    "You draft replies for the support agents of {desk}. Write the next public reply to the "
    "customer: helpful, brief, concrete, in the language the customer writes in. Use the "
    "internal notes for context but never quote or reveal them: the customer must not learn "
    "they exist. Do not invent facts, prices, dates or promises; where something is "
    "unknown, say what the agent should check. Reply with the message body only, no subject "
    "line, signed as the agent {agent}."
)


@dataclass(frozen=True)
class Prompt:
    system: str
    conversation: str


def build_prompt(
    desk_name: str, agent: User, ticket: Ticket, customer: User, messages: list[TicketMessage]
) -> Prompt:
    header = (
        f"Ticket #{ticket.id}: {ticket.subject}\nStatus: {ticket.status}, priority "
        f"{ticket.priority}\nCustomer: {customer.name or customer.email}\n"
    )
    blocks = [_block(m, customer) for m in messages]
    kept: list[str] = []
    budget = MAX_PROMPT_CHARS - len(header)
    for block in reversed(blocks):  # newest first, until the budget is spent
        if len(block) > budget:
            break
        kept.append(block)
        budget -= len(block)
    left_out = len(blocks) - len(kept)
    note = f"[{left_out} earlier message(s) left out for length]\n\n" if left_out else ""
    conversation = header + "\n" + note + "\n".join(reversed(kept))
    agent_name = agent.name or agent.email
    return Prompt(SYSTEM.format(desk=desk_name, agent=agent_name), conversation)


def _block(message: TicketMessage, customer: User) -> str:
    text = (message.body_new or message.body_text).strip()
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[:MAX_MESSAGE_CHARS] + " [...]"
    when = message.created_at.strftime("%Y-%m-%d %H:%M")
    if message.kind == MessageKind.NOTE:
        who = "INTERNAL NOTE (team only, never to be shown to the customer)"
    elif message.kind == MessageKind.DELIVERY_FAILURE:
        who = "DELIVERY FAILURE (a bounce of our mail; team only)"
    elif message.kind == MessageKind.INBOUND:
        who = f"Customer {customer.name or customer.email}"
    else:
        who = "Agent reply (sent to the customer)"
    return f"--- {who}, {when}\n{text}\n"
