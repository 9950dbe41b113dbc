"""Who hears about what by mail: the customer about their ticket's progress, the assigned
agent about the customer's replies and colleagues' notes. Each mail threads into the
conversation and is marked as automatic."""

from __future__ import annotations

from desk.models import OutboxMail
from tests.people import Team
from tests.support import make_mail, rows, send, settled, wait_for_value


async def _assigned_ticket(team: Team, sink) -> int:
    t = await team.open_ticket("carol", "Broken invoice")
    code, _ = await team.call(
        "admin", "POST", f"/api/tickets/{t}/assign/", json={"assigned_agent": team.id("agent1")}
    )
    assert code == 200
    await wait_for_value(lambda: sink.to("agent1@localhost"), what="assignment mail")
    return t


async def test_status_changes_the_customer_cares_about_are_mailed(team: Team, sink):
    t = await _assigned_ticket(team, sink)
    [ack] = await wait_for_value(lambda: sink.to("carol@example.com"), what="acknowledgement")
    for step in ("IN_PROGRESS", "WAITING_ON_CUSTOMER", "RESOLVED"):
        code, _ = await team.call(
            "agent1", "POST", f"/api/tickets/{t}/set-status/", json={"status": step}
        )
        assert code == 200
    # IN_PROGRESS is the team's business; waiting and resolved are the customer's.
    mails = await wait_for_value(
        lambda: (m := sink.to("carol@example.com"))[2:] and m, what="two status mails"
    )
    texts = [m.get_body(("plain",)).get_content() for m in mails[1:]]
    assert len(mails) == 3
    assert "waiting for an answer from you" in texts[0] and "marked resolved" in texts[1]
    for m in mails[1:]:
        assert m["Auto-Submitted"] == "auto-generated" and m["X-Auto-Response-Suppress"]
        assert m["In-Reply-To"] and ack["Message-ID"] in m["References"]
        assert f"[#{t}]" in m["Subject"]
    # agent1 moved it themselves: no mail about their own actions.
    assert len(sink.to("agent1@localhost")) == 1


async def test_customer_resolving_tells_the_assigned_agent(team: Team, sink):
    t = await _assigned_ticket(team, sink)
    code, _ = await team.call(
        "carol", "POST", f"/api/tickets/{t}/set-status/", json={"status": "RESOLVED"}
    )
    assert code == 200
    mails = await wait_for_value(
        lambda: (m := sink.to("agent1@localhost"))[1:] and m, what="status mail to the agent"
    )
    assert "marked resolved by Carol" in mails[1].get_body(("plain",)).get_content()


async def test_customer_reply_by_mail_tells_the_agent_unless_turned_off(team: Team, daemon, sink):
    t = await _assigned_ticket(team, sink)
    [ack] = await wait_for_value(lambda: sink.to("carol@example.com"), what="acknowledgement")
    raw, _ = make_mail(
        sender="carol@example.com",
        subject="Re: invoice",
        body="Still broken!",
        in_reply_to=ack["Message-ID"],
    )
    await send(daemon.smtp_port, raw, sender="carol@example.com")
    mails = await wait_for_value(
        lambda: (m := sink.to("agent1@localhost"))[1:] and m, what="reply notification"
    )
    assert "Still broken!" in mails[1].get_body(("plain",)).get_content()
    assert mails[1]["Auto-Submitted"] == "auto-generated"
    # The agent turns it off: the next reply (through the portal this time) is not mailed.
    code, me = await team.call("agent1", "PATCH", "/api/me/", json={"notify_on_reply": False})
    assert code == 200 and me["notify_on_reply"] is False
    code, _ = await team.call(
        "carol", "POST", f"/api/tickets/{t}/messages/", json={"body": "Hello?"}
    )
    assert code == 201
    kinds = [r.kind for r in await rows(daemon, OutboxMail, OutboxMail.ticket_id == t)]
    assert kinds.count("customer_replied") == 1
    assert (await team.call("carol", "PATCH", "/api/me/", json={"notify_on_reply": False}))[
        0
    ] == 403


async def test_internal_note_mails_the_assignee_and_never_the_customer(team: Team, daemon, sink):
    t = await _assigned_ticket(team, sink)
    code, _ = await team.call(
        "admin",
        "POST",
        f"/api/tickets/{t}/messages/",
        json={"body": "Refund approved, VIP.", "is_internal": True},
    )
    assert code == 201
    mails = await wait_for_value(
        lambda: (m := sink.to("agent1@localhost"))[1:] and m, what="note notification"
    )
    assert "Refund approved, VIP." in mails[1].get_body(("plain",)).get_content()
    outbox = await rows(daemon, OutboxMail, OutboxMail.recipient == "carol@example.com")
    assert [r.kind for r in outbox] == ["acknowledgement"]
    for _env, message in sink.messages:
        if "carol@example.com" in _env.rcpt_tos:
            assert b"Refund approved" not in message.as_bytes()


async def test_agent_answering_a_notification_by_mail_stays_internal(team: Team, daemon, sink):
    t = await _assigned_ticket(team, sink)
    [note] = sink.to("agent1@localhost")
    raw, _ = make_mail(
        sender="agent1@localhost",
        subject=f"Re: {note['Subject']}",
        body="Quoting the note: VIP refund",
        in_reply_to=note["Message-ID"],
    )
    await send(daemon.smtp_port, raw, sender="agent1@localhost")
    await settled(daemon, 1)
    _, detail = await team.call("carol", "GET", f"/api/tickets/{t}/")
    assert all("VIP refund" not in m["body"] for m in detail["messages"])
    _, detail = await team.call("agent1", "GET", f"/api/tickets/{t}/")
    [mailed] = [m for m in detail["messages"] if "VIP refund" in m["body"]]
    assert mailed["is_internal"]
