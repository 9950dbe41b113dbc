"""Every event kind on the wire, byte for byte as it was before events were typed: the Redis
envelope (whose `data` is also what the events table stores and webhooks carry), the
WebSocket frames (with the chat's per-reader ticket previews) and the webhook body; and every
event read back from Redis or from its stored columns is the event that was sent.

The expected texts below were produced by the code before the change (string events built
by desk.tickets.events, desk.chat and desk.people); a line break in them stands for nothing
(Redis, webhooks) or for the space after a comma (frames)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from daemon.lifecycle import Listeners, subscribe_listeners
from desk.chat.events import message_view
from desk.events import Event, LocalBus
from desk.events.board import CardMoved, ColumnCreated, ColumnDeleted, ColumnUpdated, ColumnView
from desk.events.chat import (
    ChatMention,
    ChatMessageDeleted,
    ChatMessageEdited,
    ChatMessageNew,
    ChatUser,
    Reaction,
    ReactionAdded,
    ReactionRemoved,
    RoomDeleted,
    TicketRef,
    UserJoined,
    UserLeft,
    UserTyping,
)
from desk.events.people import AccessChanged, AccessRevoked, AgentAvailability, NotificationAdded
from desk.events.presence import Presence, TicketPresence
from desk.events.tickets import TicketDeleted, TicketMerged, TicketUnmerged
from desk.events.types import KINDS, from_parts, unmarshal
from desk.models import (
    ChatMessage,
    Queue,
    QueueMember,
    QueueRole,
    Ticket,
    TicketMessage,
    User,
    Visibility,
)
from desk.tickets import events as ev
from desk.tickets.events import TICKET_COLUMNS, message_data, ticket_fields
from desk.webhooks.queue import payload
from web.realtime.hub import frame

AT = datetime(2026, 11, 29, 19, 0, 0, 123456, tzinfo=UTC)
T0 = datetime(2026, 11, 28, 8, 30, 0, tzinfo=UTC)
T1 = datetime(2026, 11, 29, 18, 59, 59, 500000, tzinfo=UTC)


def _ticket(**changes: Any) -> Ticket:
    fields: dict[str, Any] = {
        "id": 7,
        "subject": "Printer on fire \u2014 Caf\u00e9",
        "status": "ASSIGNED",
        "priority": "HIGH",
        "customer_id": 3,
        "assigned_agent_id": 4,
        "company_id": 2,
        "linked_ticket_id": None,
        "created_at": T0,
        "updated_at": T1,
        "assigned_at": T1,
        "resolved_at": None,
        "archived_at": None,
        "queue_id": 1,
    }
    return Ticket(**{**fields, **changes})


def _message(**changes: Any) -> TicketMessage:
    fields: dict[str, Any] = {
        "id": 11,
        "ticket_id": 7,
        "kind": "inbound",
        "source": "smtp",
        "author_id": 3,
        "sender_email": "carol@example.com",
        "subject": "Re: Printer",
        "body_new": "It still burns",
        "body_text": "It still burns\n> quoted",
        "body_html": "<p>It still burns</p>",
        "message_id": "<abc@example.com>",
        "is_automatic": False,
        "thread_rule": "in_reply_to",
        "created_at": T1,
    }
    return TicketMessage(**{**fields, **changes})


def _chat_message(**changes: Any) -> ChatMessage:
    fields: dict[str, Any] = {
        "id": 5,
        "room_id": 2,
        "author_id": 4,
        "kind": "text",
        "body": "see #7 and #8 \u2615",
        "is_edited": False,
        "edited_at": None,
        "created_at": T1,
        "file_sha256": None,
    }
    return ChatMessage(**{**fields, **changes})


NOTE = {
    "id": 12,
    "kind": "note",
    "source": "web",
    "author_id": 4,
    "sender_email": "agent1@localhost",
    "subject": None,
    "body_new": "internal",
    "body_text": "internal",
    "body_html": None,
    "message_id": None,
    "thread_rule": None,
}
REFS = [
    TicketRef(
        id=7,
        subject="Printer on fire \u2014 Caf\u00e9",
        status="ASSIGNED",
        assigned_agent_id=4,
        customer_id=3,
        company_id=2,
    ),
    TicketRef(
        id=8, subject="Secret", status="OPEN", assigned_agent_id=9, customer_id=12, company_id=None
    ),
]
AGENT4 = ChatUser(id=4, name="Agent Four", email="agent4@localhost")
AGENT6 = ChatUser(id=6, name="Agent Six", email="agent6@localhost")
AGENT9 = ChatUser(id=9, name="", email="agent9@localhost")
PARTY = Reaction(emoji="\U0001f389", user_id=6, name="Agent Six", email="agent6@localhost")
TEXT = message_view(_chat_message(), [replace(PARTY, created_at=T0)], REFS, AGENT4)
IMAGE = message_view(
    _chat_message(
        id=6,
        kind="image",
        body="",
        is_edited=True,
        edited_at=T1,
        file_sha256="ab" * 32,
        file_name="shot.png",
        file_type="image/png",
        file_size=1234,
    ),
    [],
    [],
    AGENT4,
)
ROOM: dict[str, Any] = {"room_id": 2, "participant_ids": (4, 6)}
TRIO: dict[str, Any] = {"room_id": 2, "participant_ids": (4, 6, 9)}
REACTION: dict[str, Any] = {
    **ROOM,
    "message_id": 5,
    "user_id": 6,
    "emoji": "\U0001f389",
    "user": AGENT6,
}

COLUMNS = (
    ColumnView(id=3, queue_id=1, name="Open", position=0, status="OPEN"),
    ColumnView(id=9, queue_id=1, name="Review \u2014 QA", position=1, status=None),
)
ROOM: dict[str, Any] = {"room_id": 2, "participant_ids": (4, 6)}
TRIO: dict[str, Any] = {"room_id": 2, "participant_ids": (4, 6, 9)}
REACTION: dict[str, Any] = {
    **ROOM,
    "message_id": 5,
    "user_id": 6,
    "emoji": "\U0001f389",
    "user": AGENT6,
}


def _events() -> dict[str, Event]:
    """The cases, built as the emitters build them."""
    return {
        "ticket_created": ev.ticket_created(
            _ticket(status="OPEN", assigned_agent_id=None, assigned_at=None, company_id=None)
        ),
        "message_created": ev.message_created(_ticket(), _message()),
        "message_created_note": ev.message_created(_ticket(), _message(**NOTE)),
        "status_changed": ev.status_changed(_ticket(status="RESOLVED", resolved_at=T1), "ASSIGNED"),
        "assigned": ev.assigned(_ticket(), None),
        "unassigned": ev.assigned(
            _ticket(assigned_agent_id=None, assigned_at=None, status="OPEN"), 4
        ),
        "updated": ev.updated(_ticket(archived_at=T1, status="CLOSED"), ["archived"]),
        "updated_fields": ev.updated(_ticket(linked_ticket_id=5), ["subject", "priority", "tags"]),
        "agent_availability": AgentAvailability(user_id=4, is_available=True, capacity=5),
        "chat_message_new": ChatMessageNew(**ROOM, message=TEXT),
        "chat_message_new_file": ChatMessageNew(**ROOM, message=IMAGE),
        "chat_mention": ChatMention(**ROOM, user_id=6, message=TEXT),
        "chat_message_edited": ChatMessageEdited(**ROOM, message=TEXT),
        "chat_message_deleted": ChatMessageDeleted(**ROOM, message_id=5),
        "chat_reaction_added": ReactionAdded(**REACTION),
        "chat_reaction_removed": ReactionRemoved(**REACTION),
        "chat_user_typing": UserTyping(**ROOM, user_id=6),
        "chat_user_joined": UserJoined(**TRIO, user_id=9, user=AGENT9),
        "chat_user_left": UserLeft(**TRIO, user_id=9, remaining=(4, 6), user=AGENT9),
        "chat_room_deleted": RoomDeleted(**ROOM),
        "access_revoked": AccessRevoked(user_id=4, session_id="9a8b", reason="logout"),
        "ticket_deleted": TicketDeleted(ticket=ev.ticket_view(_ticket())),
        # Added with the agent workspace (issue 17): new kinds, the ones above unchanged.
        "ticket_merged": TicketMerged(
            ticket=ev.ticket_view(_ticket(status="CLOSED")), into_id=9, merge_id=3
        ),
        "ticket_unmerged": TicketUnmerged(ticket=ev.ticket_view(_ticket()), from_id=9, merge_id=3),
        "ticket_presence": TicketPresence(
            ticket=7,
            process="p1",
            here=(Presence(socket="s1", user_id=4, name="Agent Four", state="replying", since=T1),),
            ask=True,
        ),
        "notification_added": NotificationAdded(
            user_id=4, notification={"id": 2, "kind": "assigned", "ticket_id": 7}
        ),
        "board_card_moved": CardMoved(
            queue_id=1, ticket=ev.ticket_view(_ticket()), column_id=3, rank=1536
        ),
        "board_card_left": CardMoved(
            queue_id=1, ticket=ev.ticket_view(_ticket(queue_id=2)), column_id=None, rank=None
        ),
        "board_column_created": ColumnCreated(
            queue_id=1, column=COLUMNS[1], columns=(COLUMNS[0], COLUMNS[1])
        ),
        "board_column_updated": ColumnUpdated(
            queue_id=1, column=COLUMNS[0], columns=(COLUMNS[0], COLUMNS[1])
        ),
        "board_column_deleted": ColumnDeleted(queue_id=1, column=COLUMNS[1], columns=(COLUMNS[0],)),
        # Added with the team fixes: a membership, role or visibility change.
        "access_changed": AccessChanged(user_ids=(4, 6), reason="removed from the queue"),
    }


def _cases() -> dict[str, Event]:
    """Each with the id it would have once stored (typing never is) and a fixed time."""
    found = {}
    for n, (name, event) in enumerate(_events().items()):
        stored_id = str(100 + n) if event.stored else "5f0c2a9e8b7d4c3a9e1f2b3c4d5e6f70"
        found[name] = replace(event, id=stored_id, at=AT)
    return found


REDIS = {
    "ticket_created": r"""
    {"type":"ticket.created","ticket_id":7,"data":{"ticket":{"id":7,
    "subject":"Printer on fire \u2014 Caf\u00e9","status":"OPEN","priority":"HIGH",
    "customer_id":3,"assigned_agent_id":null,"company_id":null,"linked_ticket_id":null,
    "created_at":"2026-11-28T08:30:00+00:00","updated_at":"2026-11-29T18:59:59.500000+00:00",
    "assigned_at":null,"resolved_at":null,"archived_at":null,"is_archived":false,"queue_id":1,
    "queue":1,"customer":3,"assigned_agent":null}},"id":"100",
    "at":"2026-11-29T19:00:00.123456+00:00"}
    """,
    "message_created": r"""
    {"type":"message.created","ticket_id":7,"data":{"ticket":{"id":7,
    "subject":"Printer on fire \u2014 Caf\u00e9","status":"ASSIGNED","priority":"HIGH",
    "customer_id":3,"assigned_agent_id":4,"company_id":2,"linked_ticket_id":null,
    "created_at":"2026-11-28T08:30:00+00:00","updated_at":"2026-11-29T18:59:59.500000+00:00",
    "assigned_at":"2026-11-29T18:59:59.500000+00:00","resolved_at":null,"archived_at":null,
    "is_archived":false,"queue_id":1,"queue":1,"customer":3,"assigned_agent":4},
    "message":{"id":11,"ticket_id":7,"kind":"inbound","source":"smtp","author_id":3,
    "sender_email":"carol@example.com","subject":"Re: Printer",
    "body_text":"It still burns\n> quoted","body_html":"<p>It still burns</p>",
    "message_id":"<abc@example.com>","is_automatic":false,"thread_rule":"in_reply_to",
    "created_at":"2026-11-29T18:59:59.500000+00:00","is_internal":false,"body":"It still burns",
    "author":3,"ticket":7}},"id":"101","at":"2026-11-29T19:00:00.123456+00:00"}
    """,
    "message_created_note": r"""
    {"type":"message.created","ticket_id":7,"data":{"ticket":{"id":7,
    "subject":"Printer on fire \u2014 Caf\u00e9","status":"ASSIGNED","priority":"HIGH",
    "customer_id":3,"assigned_agent_id":4,"company_id":2,"linked_ticket_id":null,
    "created_at":"2026-11-28T08:30:00+00:00","updated_at":"2026-11-29T18:59:59.500000+00:00",
    "assigned_at":"2026-11-29T18:59:59.500000+00:00","resolved_at":null,"archived_at":null,
    "is_archived":false,"queue_id":1,"queue":1,"customer":3,"assigned_agent":4},
    "message":{"id":12,"ticket_id":7,"kind":"note","source":"web","author_id":4,
    "sender_email":"agent1@localhost","subject":null,"body_text":"internal","body_html":null,
    "message_id":null,"is_automatic":false,"thread_rule":null,
    "created_at":"2026-11-29T18:59:59.500000+00:00","is_internal":true,"body":"internal",
    "author":4,"ticket":7}},"id":"102","at":"2026-11-29T19:00:00.123456+00:00"}
    """,
    "status_changed": r"""
    {"type":"ticket.status_changed","ticket_id":7,"data":{"ticket":{"id":7,
    "subject":"Printer on fire \u2014 Caf\u00e9","status":"RESOLVED","priority":"HIGH",
    "customer_id":3,"assigned_agent_id":4,"company_id":2,"linked_ticket_id":null,
    "created_at":"2026-11-28T08:30:00+00:00","updated_at":"2026-11-29T18:59:59.500000+00:00",
    "assigned_at":"2026-11-29T18:59:59.500000+00:00",
    "resolved_at":"2026-11-29T18:59:59.500000+00:00","archived_at":null,"is_archived":false,
    "queue_id":1,"queue":1,"customer":3,"assigned_agent":4},"from":"ASSIGNED","to":"RESOLVED"},
    "id":"103","at":"2026-11-29T19:00:00.123456+00:00"}
    """,
    "assigned": r"""
    {"type":"ticket.assigned","ticket_id":7,"data":{"ticket":{"id":7,
    "subject":"Printer on fire \u2014 Caf\u00e9","status":"ASSIGNED","priority":"HIGH",
    "customer_id":3,"assigned_agent_id":4,"company_id":2,"linked_ticket_id":null,
    "created_at":"2026-11-28T08:30:00+00:00","updated_at":"2026-11-29T18:59:59.500000+00:00",
    "assigned_at":"2026-11-29T18:59:59.500000+00:00","resolved_at":null,"archived_at":null,
    "is_archived":false,"queue_id":1,"queue":1,"customer":3,"assigned_agent":4},"from":null,
    "to":4},"id":"104","at":"2026-11-29T19:00:00.123456+00:00"}
    """,
    "unassigned": r"""
    {"type":"ticket.assigned","ticket_id":7,"data":{"ticket":{"id":7,
    "subject":"Printer on fire \u2014 Caf\u00e9","status":"OPEN","priority":"HIGH",
    "customer_id":3,"assigned_agent_id":null,"company_id":2,"linked_ticket_id":null,
    "created_at":"2026-11-28T08:30:00+00:00","updated_at":"2026-11-29T18:59:59.500000+00:00",
    "assigned_at":null,"resolved_at":null,"archived_at":null,"is_archived":false,"queue_id":1,
    "queue":1,"customer":3,"assigned_agent":null},"from":4,"to":null},"id":"105",
    "at":"2026-11-29T19:00:00.123456+00:00"}
    """,
    "updated": r"""
    {"type":"ticket.updated","ticket_id":7,"data":{"ticket":{"id":7,
    "subject":"Printer on fire \u2014 Caf\u00e9","status":"CLOSED","priority":"HIGH",
    "customer_id":3,"assigned_agent_id":4,"company_id":2,"linked_ticket_id":null,
    "created_at":"2026-11-28T08:30:00+00:00","updated_at":"2026-11-29T18:59:59.500000+00:00",
    "assigned_at":"2026-11-29T18:59:59.500000+00:00","resolved_at":null,
    "archived_at":"2026-11-29T18:59:59.500000+00:00","is_archived":true,"queue_id":1,"queue":1,
    "customer":3,"assigned_agent":4},"fields":["archived"]},"id":"106",
    "at":"2026-11-29T19:00:00.123456+00:00"}
    """,
    "updated_fields": r"""
    {"type":"ticket.updated","ticket_id":7,"data":{"ticket":{"id":7,
    "subject":"Printer on fire \u2014 Caf\u00e9","status":"ASSIGNED","priority":"HIGH",
    "customer_id":3,"assigned_agent_id":4,"company_id":2,"linked_ticket_id":5,
    "created_at":"2026-11-28T08:30:00+00:00","updated_at":"2026-11-29T18:59:59.500000+00:00",
    "assigned_at":"2026-11-29T18:59:59.500000+00:00","resolved_at":null,"archived_at":null,
    "is_archived":false,"queue_id":1,"queue":1,"customer":3,"assigned_agent":4},
    "fields":["subject","priority","tags"]},"id":"107","at":"2026-11-29T19:00:00.123456+00:00"}
    """,
    "agent_availability": r"""
    {"type":"agent.availability","ticket_id":null,"data":{"user_id":4,"is_available":true,
    "capacity":5},"id":"108","at":"2026-11-29T19:00:00.123456+00:00"}
    """,
    "chat_message_new": r"""
    {"type":"chat.message_new","ticket_id":null,"data":{"room_id":2,"participant_ids":[4,6],
    "message":{"id":5,"room_id":2,"author_id":4,"kind":"text","body":"see #7 and #8 \u2615",
    "is_edited":false,"edited_at":null,"created_at":"2026-11-29T18:59:59.500000+00:00",
    "file":null,"reactions":[{"emoji":"\ud83c\udf89","user_id":6,"user":{"id":6,
    "name":"Agent Six","email":"agent6@localhost"},"created_at":"2026-11-28T08:30:00+00:00"}],
    "room":2,"user":{"id":4,"name":"Agent Four","email":"agent4@localhost"},
    "content":"see #7 and #8 \u2615","type":"text","attachment_url":null,"attachment_name":null,
    "attachment_size":null,"updated_at":"2026-11-29T18:59:59.500000+00:00",
    "ticket_refs":[{"id":7,"subject":"Printer on fire \u2014 Caf\u00e9","status":"ASSIGNED",
    "assigned_agent_id":4,"customer_id":3,"company_id":2,"queue_id":1},{"id":8,
    "subject":"Secret","status":"OPEN","assigned_agent_id":9,"customer_id":12,"company_id":null,
    "queue_id":1}]}},"id":"109","at":"2026-11-29T19:00:00.123456+00:00"}
    """,
    "chat_message_new_file": r"""
    {"type":"chat.message_new","ticket_id":null,"data":{"room_id":2,"participant_ids":[4,6],
    "message":{"id":6,"room_id":2,"author_id":4,"kind":"image","body":"","is_edited":true,
    "edited_at":"2026-11-29T18:59:59.500000+00:00",
    "created_at":"2026-11-29T18:59:59.500000+00:00","file":{"name":"shot.png",
    "content_type":"image/png","size":1234,"url":"/api/chat/messages/6/file/"},"reactions":[],
    "room":2,"user":{"id":4,"name":"Agent Four","email":"agent4@localhost"},"content":"",
    "type":"image","attachment_url":"/api/chat/messages/6/file/","attachment_name":"shot.png",
    "attachment_size":1234,"updated_at":"2026-11-29T18:59:59.500000+00:00","ticket_refs":[]}},
    "id":"110","at":"2026-11-29T19:00:00.123456+00:00"}
    """,
    "chat_mention": r"""
    {"type":"chat.mention","ticket_id":null,"data":{"room_id":2,"participant_ids":[4,6],
    "user_id":6,"message":{"id":5,"room_id":2,"author_id":4,"kind":"text",
    "body":"see #7 and #8 \u2615","is_edited":false,"edited_at":null,
    "created_at":"2026-11-29T18:59:59.500000+00:00","file":null,
    "reactions":[{"emoji":"\ud83c\udf89","user_id":6,"user":{"id":6,"name":"Agent Six",
    "email":"agent6@localhost"},"created_at":"2026-11-28T08:30:00+00:00"}],"room":2,
    "user":{"id":4,"name":"Agent Four","email":"agent4@localhost"},
    "content":"see #7 and #8 \u2615","type":"text","attachment_url":null,"attachment_name":null,
    "attachment_size":null,"updated_at":"2026-11-29T18:59:59.500000+00:00",
    "ticket_refs":[{"id":7,"subject":"Printer on fire \u2014 Caf\u00e9","status":"ASSIGNED",
    "assigned_agent_id":4,"customer_id":3,"company_id":2,"queue_id":1},{"id":8,
    "subject":"Secret","status":"OPEN","assigned_agent_id":9,"customer_id":12,"company_id":null,
    "queue_id":1}]}},"id":"111","at":"2026-11-29T19:00:00.123456+00:00"}
    """,
    "chat_message_edited": r"""
    {"type":"chat.message_edited","ticket_id":null,"data":{"room_id":2,"participant_ids":[4,6],
    "message":{"id":5,"room_id":2,"author_id":4,"kind":"text","body":"see #7 and #8 \u2615",
    "is_edited":false,"edited_at":null,"created_at":"2026-11-29T18:59:59.500000+00:00",
    "file":null,"reactions":[{"emoji":"\ud83c\udf89","user_id":6,"user":{"id":6,
    "name":"Agent Six","email":"agent6@localhost"},"created_at":"2026-11-28T08:30:00+00:00"}],
    "room":2,"user":{"id":4,"name":"Agent Four","email":"agent4@localhost"},
    "content":"see #7 and #8 \u2615","type":"text","attachment_url":null,"attachment_name":null,
    "attachment_size":null,"updated_at":"2026-11-29T18:59:59.500000+00:00",
    "ticket_refs":[{"id":7,"subject":"Printer on fire \u2014 Caf\u00e9","status":"ASSIGNED",
    "assigned_agent_id":4,"customer_id":3,"company_id":2,"queue_id":1},{"id":8,
    "subject":"Secret","status":"OPEN","assigned_agent_id":9,"customer_id":12,"company_id":null,
    "queue_id":1}]}},"id":"112","at":"2026-11-29T19:00:00.123456+00:00"}
    """,
    "chat_message_deleted": r"""
    {"type":"chat.message_deleted","ticket_id":null,"data":{"room_id":2,"participant_ids":[4,6],
    "message_id":5},"id":"113","at":"2026-11-29T19:00:00.123456+00:00"}
    """,
    "chat_reaction_added": r"""
    {"type":"chat.reaction_added","ticket_id":null,"data":{"room_id":2,"participant_ids":[4,6],
    "message_id":5,"user_id":6,"emoji":"\ud83c\udf89","user":{"id":6,"name":"Agent Six",
    "email":"agent6@localhost"},"reaction":{"user":{"id":6,"name":"Agent Six",
    "email":"agent6@localhost"},"emoji":"\ud83c\udf89",
    "created_at":"2026-11-29T19:00:00.123456+00:00"}},"id":"114",
    "at":"2026-11-29T19:00:00.123456+00:00"}
    """,
    "chat_reaction_removed": r"""
    {"type":"chat.reaction_removed","ticket_id":null,"data":{"room_id":2,"participant_ids":[4,
    6],"message_id":5,"user_id":6,"emoji":"\ud83c\udf89","user":{"id":6,"name":"Agent Six",
    "email":"agent6@localhost"}},"id":"115","at":"2026-11-29T19:00:00.123456+00:00"}
    """,
    "chat_user_typing": r"""
    {"type":"chat.user_typing","ticket_id":null,"data":{"room_id":2,"participant_ids":[4,6],
    "user_id":6,"is_typing":true},"id":"5f0c2a9e8b7d4c3a9e1f2b3c4d5e6f70",
    "at":"2026-11-29T19:00:00.123456+00:00"}
    """,
    "chat_user_joined": r"""
    {"type":"chat.user_joined","ticket_id":null,"data":{"room_id":2,"participant_ids":[4,6,9],
    "user_id":9,"user":{"id":9,"name":"","email":"agent9@localhost"}},"id":"117",
    "at":"2026-11-29T19:00:00.123456+00:00"}
    """,
    "chat_user_left": r"""
    {"type":"chat.user_left","ticket_id":null,"data":{"room_id":2,"participant_ids":[4,6,9],
    "user_id":9,"remaining":[4,6],"user":{"id":9,"name":"","email":"agent9@localhost"}},
    "id":"118","at":"2026-11-29T19:00:00.123456+00:00"}
    """,
    "chat_room_deleted": r"""
    {"type":"chat.room_deleted","ticket_id":null,"data":{"room_id":2,"participant_ids":[4,6],
    "remaining":[]},"id":"119","at":"2026-11-29T19:00:00.123456+00:00"}
    """,
    "access_revoked": r"""
    {"type":"user.access_revoked","ticket_id":null,"data":{"user_id":4,"session_id":"9a8b",
    "reason":"logout"},"id":"5f0c2a9e8b7d4c3a9e1f2b3c4d5e6f70",
    "at":"2026-11-29T19:00:00.123456+00:00"}
    """,
    "ticket_deleted": r"""
    {"type":"ticket.deleted","ticket_id":7,"data":{"ticket":{"id":7,
    "subject":"Printer on fire \u2014 Caf\u00e9","status":"ASSIGNED","priority":"HIGH",
    "customer_id":3,"assigned_agent_id":4,"company_id":2,"linked_ticket_id":null,
    "created_at":"2026-11-28T08:30:00+00:00","updated_at":"2026-11-29T18:59:59.500000+00:00",
    "assigned_at":"2026-11-29T18:59:59.500000+00:00","resolved_at":null,"archived_at":null,
    "is_archived":false,"queue_id":1,"queue":1,"customer":3,"assigned_agent":4}},"id":"121",
    "at":"2026-11-29T19:00:00.123456+00:00"}
    """,
    "ticket_merged": r"""
    {"type":"ticket.merged","ticket_id":7,"data":{"ticket":{"id":7,
    "subject":"Printer on fire \u2014 Caf\u00e9","status":"CLOSED","priority":"HIGH",
    "customer_id":3,"assigned_agent_id":4,"company_id":2,"linked_ticket_id":null,
    "created_at":"2026-11-28T08:30:00+00:00",
    "updated_at":"2026-11-29T18:59:59.500000+00:00",
    "assigned_at":"2026-11-29T18:59:59.500000+00:00","resolved_at":null,"archived_at":null,
    "is_archived":false,"queue_id":1,"queue":1,"customer":3,"assigned_agent":4},"into":9,
    "merge_id":3},"id":"122","at":"2026-11-29T19:00:00.123456+00:00"}
    """,
    "ticket_unmerged": r"""
    {"type":"ticket.unmerged","ticket_id":7,"data":{"ticket":{"id":7,
    "subject":"Printer on fire \u2014 Caf\u00e9","status":"ASSIGNED","priority":"HIGH",
    "customer_id":3,"assigned_agent_id":4,"company_id":2,"linked_ticket_id":null,
    "created_at":"2026-11-28T08:30:00+00:00",
    "updated_at":"2026-11-29T18:59:59.500000+00:00",
    "assigned_at":"2026-11-29T18:59:59.500000+00:00","resolved_at":null,"archived_at":null,
    "is_archived":false,"queue_id":1,"queue":1,"customer":3,"assigned_agent":4},"from":9,
    "merge_id":3},"id":"123","at":"2026-11-29T19:00:00.123456+00:00"}
    """,
    "ticket_presence": r"""
    {"type":"ticket.presence","ticket_id":7,"data":{"ticket_id":7,"process":"p1",
    "here":[{"socket":"s1","user_id":4,"name":"Agent Four","state":"replying",
    "since":"2026-11-29T18:59:59.500000+00:00"}],"ask":true},
    "id":"5f0c2a9e8b7d4c3a9e1f2b3c4d5e6f70","at":"2026-11-29T19:00:00.123456+00:00"}
    """,
    "notification_added": r"""
    {"type":"notification.added","ticket_id":null,"data":{"user_id":4,
    "notification":{"id":2,"kind":"assigned","ticket_id":7}},
    "id":"5f0c2a9e8b7d4c3a9e1f2b3c4d5e6f70","at":"2026-11-29T19:00:00.123456+00:00"}
    """,
    "board_card_moved": r"""
    {"type":"board.card_moved","ticket_id":7,"data":{"queue_id":1,"ticket":{"id":7,
    "subject":"Printer on fire \u2014 Caf\u00e9","status":"ASSIGNED","priority":"HIGH",
    "customer_id":3,"assigned_agent_id":4,"company_id":2,"linked_ticket_id":null,
    "created_at":"2026-11-28T08:30:00+00:00","updated_at":"2026-11-29T18:59:59.500000+00:00",
    "assigned_at":"2026-11-29T18:59:59.500000+00:00","resolved_at":null,"archived_at":null,
    "is_archived":false,"queue_id":1,"queue":1,"customer":3,"assigned_agent":4},"column_id":3,
    "rank":1536,"column":3,"queue":1},"id":"5f0c2a9e8b7d4c3a9e1f2b3c4d5e6f70",
    "at":"2026-11-29T19:00:00.123456+00:00"}
    """,
    "board_card_left": r"""
    {"type":"board.card_moved","ticket_id":7,"data":{"queue_id":1,"ticket":{"id":7,
    "subject":"Printer on fire \u2014 Caf\u00e9","status":"ASSIGNED","priority":"HIGH",
    "customer_id":3,"assigned_agent_id":4,"company_id":2,"linked_ticket_id":null,
    "created_at":"2026-11-28T08:30:00+00:00","updated_at":"2026-11-29T18:59:59.500000+00:00",
    "assigned_at":"2026-11-29T18:59:59.500000+00:00","resolved_at":null,"archived_at":null,
    "is_archived":false,"queue_id":2,"queue":2,"customer":3,"assigned_agent":4},
    "column_id":null,"rank":null,"column":null,"queue":1},
    "id":"5f0c2a9e8b7d4c3a9e1f2b3c4d5e6f70","at":"2026-11-29T19:00:00.123456+00:00"}
    """,
    "board_column_created": r"""
    {"type":"board.column_created","ticket_id":null,"data":{"queue_id":1,"column":{"id":9,
    "queue_id":1,"name":"Review \u2014 QA","position":1,"status":null,"queue":1},
    "columns":[{"id":3,"queue_id":1,"name":"Open","position":0,"status":"OPEN","queue":1},
    {"id":9,"queue_id":1,"name":"Review \u2014 QA","position":1,"status":null,"queue":1}],
    "queue":1},"id":"5f0c2a9e8b7d4c3a9e1f2b3c4d5e6f70","at":"2026-11-29T19:00:00.123456+00:00"}
    """,
    "board_column_updated": r"""
    {"type":"board.column_updated","ticket_id":null,"data":{"queue_id":1,"column":{"id":3,
    "queue_id":1,"name":"Open","position":0,"status":"OPEN","queue":1},"columns":[{"id":3,
    "queue_id":1,"name":"Open","position":0,"status":"OPEN","queue":1},{"id":9,"queue_id":1,
    "name":"Review \u2014 QA","position":1,"status":null,"queue":1}],"queue":1},
    "id":"5f0c2a9e8b7d4c3a9e1f2b3c4d5e6f70","at":"2026-11-29T19:00:00.123456+00:00"}
    """,
    "board_column_deleted": r"""
    {"type":"board.column_deleted","ticket_id":null,"data":{"queue_id":1,"column":{"id":9,
    "queue_id":1,"name":"Review \u2014 QA","position":1,"status":null,"queue":1},
    "columns":[{"id":3,"queue_id":1,"name":"Open","position":0,"status":"OPEN","queue":1}],
    "queue":1},"id":"5f0c2a9e8b7d4c3a9e1f2b3c4d5e6f70","at":"2026-11-29T19:00:00.123456+00:00"}
    """,
    "access_changed": r"""
    {"type":"user.access_changed","ticket_id":null,"data":{"user_ids":[4,6],
    "reason":"removed from the queue"},"id":"5f0c2a9e8b7d4c3a9e1f2b3c4d5e6f70",
    "at":"2026-11-29T19:00:00.123456+00:00"}
    """,
}
FRAMES = {
    "message_created": r"""
    {"id": "101", "type": "message_created", "ticket_id": 7, "data": {"ticket": {"id": 7,
    "subject": "Printer on fire \u2014 Caf\u00e9", "status": "ASSIGNED", "priority": "HIGH",
    "customer_id": 3, "assigned_agent_id": 4, "company_id": 2, "linked_ticket_id": null,
    "created_at": "2026-11-28T08:30:00+00:00", "updated_at": "2026-11-29T18:59:59.500000+00:00",
    "assigned_at": "2026-11-29T18:59:59.500000+00:00", "resolved_at": null, "archived_at": null,
    "is_archived": false, "queue_id": 1, "queue": 1, "customer": 3, "assigned_agent": 4},
    "message": {"id": 11, "ticket_id": 7, "kind": "inbound", "source": "smtp", "author_id": 3,
    "sender_email": "carol@example.com", "subject": "Re: Printer",
    "body_text": "It still burns\n> quoted", "body_html": "<p>It still burns</p>",
    "message_id": "<abc@example.com>", "is_automatic": false, "thread_rule": "in_reply_to",
    "created_at": "2026-11-29T18:59:59.500000+00:00", "is_internal": false,
    "body": "It still burns", "author": 3, "ticket": 7}},
    "at": "2026-11-29T19:00:00.123456+00:00", "ticket": {"id": 7,
    "subject": "Printer on fire \u2014 Caf\u00e9", "status": "ASSIGNED", "priority": "HIGH",
    "customer_id": 3, "assigned_agent_id": 4, "company_id": 2, "linked_ticket_id": null,
    "created_at": "2026-11-28T08:30:00+00:00", "updated_at": "2026-11-29T18:59:59.500000+00:00",
    "assigned_at": "2026-11-29T18:59:59.500000+00:00", "resolved_at": null, "archived_at": null,
    "is_archived": false, "queue_id": 1, "queue": 1, "customer": 3, "assigned_agent": 4},
    "message": {"id": 11, "ticket_id": 7, "kind": "inbound", "source": "smtp", "author_id": 3,
    "sender_email": "carol@example.com", "subject": "Re: Printer",
    "body_text": "It still burns\n> quoted", "body_html": "<p>It still burns</p>",
    "message_id": "<abc@example.com>", "is_automatic": false, "thread_rule": "in_reply_to",
    "created_at": "2026-11-29T18:59:59.500000+00:00", "is_internal": false,
    "body": "It still burns", "author": 3, "ticket": 7}}
    """,
    "chat_message_new/agent4": r"""
    {"id": "109", "type": "message_new", "ticket_id": null, "data": {"room_id": 2,
    "participant_ids": [4, 6], "message": {"id": 5, "room_id": 2, "author_id": 4,
    "kind": "text", "body": "see #7 and #8 \u2615", "is_edited": false, "edited_at": null,
    "created_at": "2026-11-29T18:59:59.500000+00:00", "file": null,
    "reactions": [{"emoji": "\ud83c\udf89", "user_id": 6, "user": {"id": 6, "name": "Agent Six",
    "email": "agent6@localhost"}, "created_at": "2026-11-28T08:30:00+00:00"}], "room": 2,
    "user": {"id": 4, "name": "Agent Four", "email": "agent4@localhost"},
    "content": "see #7 and #8 \u2615", "type": "text", "attachment_url": null,
    "attachment_name": null, "attachment_size": null,
    "updated_at": "2026-11-29T18:59:59.500000+00:00", "tickets": [{"id": 7,
    "subject": "Printer on fire \u2014 Caf\u00e9", "status": "ASSIGNED",
    "assigned_agent_id": 4}]}}, "at": "2026-11-29T19:00:00.123456+00:00", "room_id": 2,
    "participant_ids": [4, 6], "message": {"id": 5, "room_id": 2, "author_id": 4,
    "kind": "text", "body": "see #7 and #8 \u2615", "is_edited": false, "edited_at": null,
    "created_at": "2026-11-29T18:59:59.500000+00:00", "file": null,
    "reactions": [{"emoji": "\ud83c\udf89", "user_id": 6, "user": {"id": 6, "name": "Agent Six",
    "email": "agent6@localhost"}, "created_at": "2026-11-28T08:30:00+00:00"}], "room": 2,
    "user": {"id": 4, "name": "Agent Four", "email": "agent4@localhost"},
    "content": "see #7 and #8 \u2615", "type": "text", "attachment_url": null,
    "attachment_name": null, "attachment_size": null,
    "updated_at": "2026-11-29T18:59:59.500000+00:00", "tickets": [{"id": 7,
    "subject": "Printer on fire \u2014 Caf\u00e9", "status": "ASSIGNED",
    "assigned_agent_id": 4}]}}
    """,
    "chat_message_new/agent6": r"""
    {"id": "109", "type": "message_new", "ticket_id": null, "data": {"room_id": 2,
    "participant_ids": [4, 6], "message": {"id": 5, "room_id": 2, "author_id": 4,
    "kind": "text", "body": "see #7 and #8 \u2615", "is_edited": false, "edited_at": null,
    "created_at": "2026-11-29T18:59:59.500000+00:00", "file": null,
    "reactions": [{"emoji": "\ud83c\udf89", "user_id": 6, "user": {"id": 6, "name": "Agent Six",
    "email": "agent6@localhost"}, "created_at": "2026-11-28T08:30:00+00:00"}], "room": 2,
    "user": {"id": 4, "name": "Agent Four", "email": "agent4@localhost"},
    "content": "see #7 and #8 \u2615", "type": "text", "attachment_url": null,
    "attachment_name": null, "attachment_size": null,
    "updated_at": "2026-11-29T18:59:59.500000+00:00", "tickets": []}},
    "at": "2026-11-29T19:00:00.123456+00:00", "room_id": 2, "participant_ids": [4, 6],
    "message": {"id": 5, "room_id": 2, "author_id": 4, "kind": "text",
    "body": "see #7 and #8 \u2615", "is_edited": false, "edited_at": null,
    "created_at": "2026-11-29T18:59:59.500000+00:00", "file": null,
    "reactions": [{"emoji": "\ud83c\udf89", "user_id": 6, "user": {"id": 6, "name": "Agent Six",
    "email": "agent6@localhost"}, "created_at": "2026-11-28T08:30:00+00:00"}], "room": 2,
    "user": {"id": 4, "name": "Agent Four", "email": "agent4@localhost"},
    "content": "see #7 and #8 \u2615", "type": "text", "attachment_url": null,
    "attachment_name": null, "attachment_size": null,
    "updated_at": "2026-11-29T18:59:59.500000+00:00", "tickets": []}}
    """,
    "chat_user_typing": r"""
    {"id": "5f0c2a9e8b7d4c3a9e1f2b3c4d5e6f70", "type": "user_typing", "ticket_id": null,
    "data": {"room_id": 2, "participant_ids": [4, 6], "user_id": 6, "is_typing": true},
    "at": "2026-11-29T19:00:00.123456+00:00", "room_id": 2, "participant_ids": [4, 6],
    "user_id": 6, "is_typing": true}
    """,
    "agent_availability": r"""
    {"id": "108", "type": "agent.availability", "ticket_id": null, "data": {"user_id": 4,
    "is_available": true, "capacity": 5}, "at": "2026-11-29T19:00:00.123456+00:00",
    "user_id": 4, "is_available": true, "capacity": 5}
    """,
}
WEBHOOK = {
    "message_created": r"""
    {"type":"message.created","timestamp":"2026-11-29T19:00:00.123456+00:00","event_id":"101",
    "data":{"ticket":{"id":7,"subject":"Printer on fire \u2014 Caf\u00e9","status":"ASSIGNED",
    "priority":"HIGH","customer_id":3,"assigned_agent_id":4,"company_id":2,
    "linked_ticket_id":null,"created_at":"2026-11-28T08:30:00+00:00",
    "updated_at":"2026-11-29T18:59:59.500000+00:00",
    "assigned_at":"2026-11-29T18:59:59.500000+00:00","resolved_at":null,"archived_at":null,
    "is_archived":false,"queue_id":1,"queue":1,"customer":3,"assigned_agent":4},
    "message":{"id":11,"ticket_id":7,"kind":"inbound","source":"smtp","author_id":3,
    "sender_email":"carol@example.com","subject":"Re: Printer",
    "body_text":"It still burns\n> quoted","body_html":"<p>It still burns</p>",
    "message_id":"<abc@example.com>","is_automatic":false,"thread_rule":"in_reply_to",
    "created_at":"2026-11-29T18:59:59.500000+00:00","is_internal":false,"body":"It still burns",
    "author":3,"ticket":7}}}
    """,
}
WS_NAMES = {
    "ticket_created": "ticket_created",
    "message_created": "message_created",
    "message_created_note": "message_created",
    "status_changed": "status_changed",
    "assigned": "assignment_updated",
    "unassigned": "assignment_updated",
    "updated": "ticket_updated",
    "updated_fields": "ticket_updated",
    "agent_availability": "agent.availability",
    "chat_message_new": "message_new",
    "chat_message_new_file": "message_new",
    "chat_mention": "mention",
    "chat_message_edited": "message_edited",
    "chat_message_deleted": "message_deleted",
    "chat_reaction_added": "reaction_added",
    "chat_reaction_removed": "reaction_removed",
    "chat_user_typing": "user_typing",
    "chat_user_joined": "user_joined",
    "chat_user_left": "user_left",
    "chat_room_deleted": "room_deleted",
    "access_revoked": "user.access_revoked",
    "ticket_deleted": "ticket_deleted",
    "ticket_merged": "ticket.merged",
    "ticket_unmerged": "ticket.unmerged",
    "ticket_presence": "ticket.presence",
    "notification_added": "notification.added",
    "board_card_moved": "card_moved",
    "board_card_left": "card_moved",
    "board_column_created": "column_created",
    "board_column_updated": "column_updated",
    "board_column_deleted": "column_deleted",
    "access_changed": "user.access_changed",
}


def _text(expected: str, between: str = "") -> str:
    return between.join(line.strip() for line in expected.strip().splitlines())


def _flat(envelope: dict[str, Any]) -> dict[str, Any]:
    """The frame as the seeds read it too: the payload's keys again next to `type` (the
    envelope's own keys are never overwritten)."""
    return {**envelope, **{k: v for k, v in envelope["data"].items() if k not in envelope}}


def _agent(user_id: int) -> User:
    """An agent of the default queue (`assigned`: the unassigned tickets and their own)."""
    queue = Queue(id=1, name="Support", visibility=Visibility.ASSIGNED)
    member = QueueMember(queue_id=1, user_id=user_id, role=QueueRole.USER, queue=queue)
    return User(
        id=user_id, role="agent", is_active=True, is_company_admin=False, memberships=[member]
    )


def test_every_kind_has_a_case():
    assert {type(e) for e in _cases().values()} == set(KINDS)


@pytest.mark.parametrize("name", list(REDIS))
def test_redis_envelope_is_as_before_and_reads_back(name: str):
    event = _cases()[name]
    assert event.marshal() == _text(REDIS[name])
    assert unmarshal(event.marshal()) == event


@pytest.mark.parametrize("name", list(REDIS))
def test_stored_columns_are_as_before_and_replay_reads_them(name: str):
    """The events table keeps type, ticket_id and data (a JSON column) as before."""
    event = _cases()[name]
    before = json.loads(_text(REDIS[name]))
    assert (event.type, event.ticket_id) == (before["type"], before["ticket_id"])
    assert json.dumps(event.data()) == json.dumps(before["data"])  # key order included
    stored = json.loads(json.dumps(event.data()))  # what the JSON column gives back
    assert from_parts(event.type, stored, id=event.id, at=event.at) == event


@pytest.mark.parametrize("name", [n for n in REDIS if not n.startswith("chat_")])
def test_websocket_frame_is_as_before(name: str):
    event, before = _cases()[name], json.loads(_text(REDIS[name]))
    expected = {
        "id": before["id"],
        "type": WS_NAMES[name],
        "ticket_id": before["ticket_id"],
        "data": before["data"],
        "at": before["at"],
    }
    assert frame(event) == json.dumps(_flat(expected))
    if name in FRAMES:
        assert frame(event) == _text(FRAMES[name], " ")


@pytest.mark.parametrize("name", [n for n in REDIS if n.startswith("chat_")])
def test_chat_frames_per_reader_are_as_before(name: str):
    """Agent 4 may open ticket 7 (theirs), not 8; agent 6 neither: each frame previews only
    what its reader may open, and never carries `ticket_refs`."""
    event, before = _cases()[name], json.loads(_text(REDIS[name]))
    for reader in (4, 6):
        data = dict(before["data"])
        if "message" in data:
            message = {k: v for k, v in data["message"].items() if k != "ticket_refs"}
            message["tickets"] = [
                {k: t[k] for k in ("id", "subject", "status", "assigned_agent_id")}
                for t in data["message"]["ticket_refs"]
                if t["assigned_agent_id"] in (None, reader)
            ]
            data["message"] = message
        expected = {
            "id": before["id"],
            "type": WS_NAMES[name],
            "ticket_id": None,
            "data": data,
            "at": before["at"],
        }
        assert frame(event, _agent(reader)) == json.dumps(_flat(expected))
        if f"{name}/agent{reader}" in FRAMES:
            assert frame(event, _agent(reader)) == _text(FRAMES[f"{name}/agent{reader}"], " ")
    if name in FRAMES:
        assert frame(event, _agent(4)) == _text(FRAMES[name], " ")


@pytest.mark.parametrize("name", [n for n in REDIS if n != "chat_user_typing"])
def test_webhook_body_is_as_before(name: str):
    """As daemon.webhook_sender sends it (after the payload went through its JSON column)."""
    event, before = _cases()[name], json.loads(_text(REDIS[name]))
    body = json.dumps(payload(event), separators=(",", ":"), default=str)
    head = f'{{"type":"{before["type"]}","timestamp":"{before["at"]}","event_id":"{before["id"]}"'
    assert body == head + ',"data":' + json.dumps(before["data"], separators=(",", ":")) + "}"
    if name in WEBHOOK:
        assert body == _text(WEBHOOK[name])


def test_ticket_and_message_in_events_are_the_api_shape():
    """The event's ticket and message have the fields the API answers with, in its order."""
    ticket, message = _ticket(), _message()
    event = ev.message_created(ticket, message)
    row = {name: getattr(ticket, name) for name in TICKET_COLUMNS}
    api = {
        k: v.isoformat() if isinstance(v, datetime) else v for k, v in ticket_fields(row).items()
    }
    assert json.dumps(event.data()["ticket"]) == json.dumps(api)
    assert json.dumps(event.data()["message"]) == json.dumps(message_data(message))


async def test_senders_wake_only_for_what_concerns_them():
    """The outbox sender wakes on changes that may queue mail, the webhook sender on every
    stored event; chat typing wakes neither (and availability not the outbox)."""
    bus = LocalBus()
    listeners = Listeners(outbox=asyncio.Event(), webhooks=asyncio.Event())
    heard: list[Event] = []

    async def hub(event: Event) -> None:
        heard.append(event)

    listeners.components.append(hub)
    subscribe_listeners(bus, listeners)
    cases = _cases()
    woken = {}
    for name in ("chat_user_typing", "agent_availability", "message_created", "status_changed"):
        assert listeners.outbox is not None and listeners.webhooks is not None
        listeners.outbox.clear()
        listeners.webhooks.clear()
        await bus.publish([cases[name]])
        woken[name] = (listeners.outbox.is_set(), listeners.webhooks.is_set())
    assert woken == {
        "chat_user_typing": (False, False),
        "agent_availability": (False, True),
        "message_created": (True, True),
        "status_changed": (True, True),
    }
    assert len(heard) == 4  # the live hub hears every kind


async def test_a_batch_subscriber_hears_each_publish_in_one_call():
    """subscribe_many: the events of one publish together, in order and of its kinds only
    (the bell reads what they all need at once); one heard from another process (deliver)
    comes alone; a failing subscriber keeps no other from hearing."""
    bus = LocalBus()
    cases = _cases()
    calls: list[list[str]] = []

    async def failing(_events: list[Event]) -> None:
        raise RuntimeError("boom")

    async def bell(events: list[Event]) -> None:
        calls.append([e.type for e in events])

    bus.subscribe_many(failing)
    bus.subscribe_many(bell, (type(cases["message_created"]), type(cases["status_changed"])))
    kinds = ("status_changed", "chat_user_typing", "message_created")
    await bus.publish([cases[name] for name in kinds])
    await bus.publish([cases["chat_user_typing"]])  # none of its kinds: not called
    await bus.deliver(cases["message_created"])
    status, message = cases["status_changed"].type, cases["message_created"].type
    assert calls == [[status, message], [message]]
