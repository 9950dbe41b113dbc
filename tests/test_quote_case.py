"""Quoted history stays out of a reply's new text, end to end: the customer's mails come in
over real SMTP, an agent answers through the API (the answer goes out to the SMTP sink), and
the customer's reply in her own language shows only her words while its full text stays
available (the message JSON's `body` and `body_text`)."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from desk.models import Ticket
from tests.support import Api, rows, send, settled, wait_for_value

CASES = Path(__file__).parent / "cases" / "mail"  # copied from ../shared/cases
SUPPORT = "support@example.test"  # the address the case mails are written to


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    return {**env, "POSTDESK_SUPPORT_ADDRESS": SUPPORT}


def _crlf(raw: bytes) -> bytes:
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


async def _agent_answers(api: Api, make_user: Any, sink: Any, ticket_id: int, to: str) -> Any:
    """An agent replies through the API; returns the mail the sink received for it."""
    await make_user("agent@example.test", "agent")
    token = await api.token("agent@example.test", "correct horse 1")
    status, body = await api.call(
        "POST",
        f"/api/tickets/{ticket_id}/messages/",
        token,
        json={"body": "Olá Joana, cancelamos a segunda fatura."},
    )
    assert status == 201, body
    mails = await wait_for_value(lambda: sink.to(to)[1:], what="the agent's mail")
    return mails[0], token


async def _messages(api: Api, token: str, ticket_id: int) -> list[dict[str, Any]]:
    status, ticket = await api.call("GET", f"/api/tickets/{ticket_id}/", token)
    assert status == 200, ticket
    return list(ticket["messages"])


async def test_case_06_portuguese_gmail_reply(daemon, api, sink, make_user):
    folder = CASES / "06-quote-portuguese"
    first = _crlf((folder / "1.eml").read_bytes())
    await send(daemon.smtp_port, first, sender="joana@example.com", rcpt=SUPPORT)
    await settled(daemon, 1)
    [ticket] = await rows(daemon, Ticket)
    agent_mail, token = await _agent_answers(api, make_user, sink, ticket.id, "joana@example.com")

    second = (folder / "2.eml").read_text(encoding="utf-8")
    second = second.replace("{{TICKET}}", str(ticket.id))
    second = second.replace("{{AGENT_MSGID}}", agent_mail["Message-ID"])
    await send(daemon.smtp_port, _crlf(second.encode()), sender="joana@example.com", rcpt=SUPPORT)
    [_, inbound] = await settled(daemon, 2)
    assert inbound.state == "processed" and inbound.ticket_id == ticket.id

    reply = (await _messages(api, token, ticket.id))[-1]
    assert reply["body"] == "Obrigada, agora está certo."
    assert "escreveu:" in reply["body_text"]
    assert "> Olá Joana, cancelamos a segunda fatura." in reply["body_text"]


def _russian_outlook_reply(agent_mail: Any, ticket_id: int) -> bytes:
    """Our own input: Outlook in Russian, quoted-printable, its header block over the quote."""
    msg = EmailMessage()
    msg["From"] = "Анна Примерова <joana@example.com>"
    msg["To"] = SUPPORT
    msg["Subject"] = f"RE: [#{ticket_id}] Fatura duplicada"
    msg["Message-ID"] = "<ru-outlook-1@mail.example.com>"
    msg["In-Reply-To"] = agent_mail["Message-ID"]
    msg["References"] = agent_mail["Message-ID"]
    msg.set_content(
        "Спасибо, всё верно.\n\n"
        "С уважением,\nАнна\n\n"
        "________________________________\n"
        f"От: Support <{SUPPORT}>\n"
        "Отправлено: 29 ноября 2026 г. 12:00\n"
        "Кому: Анна Примерова <joana@example.com>\n"
        f"Тема: [#{ticket_id}] Fatura duplicada\n\n"
        "Olá Joana, cancelamos a segunda fatura.\n",
        cte="quoted-printable",
    )
    return msg.as_bytes()


async def test_russian_outlook_reply_keeps_only_the_new_words(daemon, api, sink, make_user):
    first = EmailMessage()
    first["From"] = "joana@example.com"
    first["To"] = SUPPORT
    first["Subject"] = "Fatura duplicada"
    first.set_content("Recebi a fatura duas vezes.")
    await send(daemon.smtp_port, first.as_bytes(), sender="joana@example.com", rcpt=SUPPORT)
    await settled(daemon, 1)
    [ticket] = await rows(daemon, Ticket)
    agent_mail, token = await _agent_answers(api, make_user, sink, ticket.id, "joana@example.com")

    raw = _russian_outlook_reply(agent_mail, ticket.id)
    await send(daemon.smtp_port, raw, sender="joana@example.com", rcpt=SUPPORT)
    [_, inbound] = await settled(daemon, 2)
    assert inbound.ticket_id == ticket.id

    reply = (await _messages(api, token, ticket.id))[-1]
    assert reply["body"] == "Спасибо, всё верно.\n\nС уважением,\nАнна"
    assert "Отправлено: 29 ноября 2026 г. 12:00" in reply["body_text"]
