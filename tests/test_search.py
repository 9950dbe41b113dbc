"""Full-text search over the API, on whichever engine the backend has (FTS5 or tsvector):
what each role may find (as strictly as the permission matrix), the query syntax,
ranking, snippets, filters and paging."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import create_async_engine

from desk.db import alembic_config
from desk.search.cjk import search_text
from desk.search.syntax import contradictory, for_postgres, fts5, pairs_only
from tests.people import PASSWORD, Team
from tests.support import make_mail, send, settled


async def _search(team: Team, who: str | None, q: str, **params: str) -> tuple[int, Any]:
    return await team.call(who, "GET", "/api/tickets/search/", params={"q": q, **params})


def _ids(body: dict[str, Any]) -> list[int]:
    return [r["id"] for r in body["results"]]


@pytest.fixture
async def desk(team: Team, daemon) -> dict[str, int]:
    """carol: a ticket with a public message and an internal note (assigned to agent1);
    dave: a ticket of his own (assigned to agent2); one unassigned ticket by mail."""
    a = await team.open_ticket(
        "carol", "Invoice totals wrong", description="The zeppelin invoice adds up wrong"
    )
    b = await team.open_ticket(
        "dave", "Zeppelin landing gear", description="My zeppelin lost a wheel"
    )
    for ticket, agent in ((a, "agent1"), (b, "agent2")):
        status, _ = await team.call(
            "admin",
            "POST",
            f"/api/tickets/{ticket}/assign/",
            json={"assigned_agent": team.id(agent)},
        )
        assert status == 200
    status, _ = await team.call(
        "agent1",
        "POST",
        f"/api/tickets/{a}/messages/",
        json={"body": "Carol owes the walrus fund; do not refund", "is_internal": True},
    )
    assert status == 201
    raw, _ = make_mail(
        sender="erin@example.net",
        name="Erin Quartermain",
        subject="Kettle <b>broken</b>",
        body="<script>alert(1)</script> my kettle is broken",
    )
    await send(daemon.smtp_port, raw, sender="erin@example.net")
    await settled(daemon, 1)
    _, found = await _search(team, "admin", "kettle")
    return {"a": a, "b": b, "mail": _ids(found)[0]}


async def test_each_role_finds_only_what_it_may_open(team: Team, desk):
    a, b, mail = desk["a"], desk["b"], desk["mail"]
    expected = {"carol": [a], "dave": [b], "agent1": [a], "agent2": [b], "admin": [b, a]}
    for who, ids in expected.items():
        status, body = await _search(team, who, "zeppelin")
        assert status == 200, body
        assert sorted(_ids(body)) == sorted(ids), who
        assert body["count"] == len(ids)
    # Text only in an internal note: staff who see the ticket find it, the customer never.
    for who, ids in {"carol": [], "dave": [], "agent1": [a], "agent2": [], "admin": [a]}.items():
        _, body = await _search(team, who, "walrus")
        assert _ids(body) == ids, who
        assert all("walrus" not in r["snippet"] for r in body["results"] if who == "carol")
    # The unassigned ticket from mail: every agent may open it, no other customer.
    assert _ids((await _search(team, "agent2", "kettle"))[1]) == [mail]
    assert _ids((await _search(team, "carol", "kettle"))[1]) == []
    assert (await _search(team, None, "kettle"))[0] == 401


async def test_customer_sees_no_note_even_when_the_ticket_matches(team: Team, desk):
    """The ticket matches on a public word; the snippet must come from public text."""
    _, body = await _search(team, "carol", "zeppelin OR walrus")
    [hit] = body["results"]
    assert hit["id"] == desk["a"] and "walrus" not in hit["snippet"]
    assert "<mark>zeppelin</mark>" in hit["snippet"]


async def test_syntax_ranking_snippets_and_people(team: Team, desk):
    a, b, mail = desk["a"], desk["b"], desk["mail"]
    # A subject match ranks above a body-only match.
    _, body = await _search(team, "admin", "zeppelin")
    assert _ids(body) == [b, a] and body["results"][0]["matched"] == "subject"
    assert _ids((await _search(team, "admin", '"lost a wheel"'))[1]) == [b]
    assert _ids((await _search(team, "admin", '"wheel lost"'))[1]) == []
    # Phrases are found through word pairs on PostgreSQL: case, OR and more than two words.
    assert _ids((await _search(team, "admin", '"ZEPPELIN lost a"'))[1]) == [b]
    assert _ids((await _search(team, "admin", '"zeppelin LOST"'))[1]) == [b]
    assert _ids((await _search(team, "admin", '"lost zeppelin"'))[1]) == []
    assert _ids((await _search(team, "admin", '"zeppelin lost" "a wheel"'))[1]) == [b]
    assert _ids((await _search(team, "admin", '"zeppelin lost" "the wheel"'))[1]) == []
    # Words the parser splits: PostgreSQL reads "e-mail" as e-mail, e and mail.
    reply = "Please e-mail the wheel maker today at parts@airship.example"
    status, _ = await team.call(
        "agent2", "POST", f"/api/tickets/{b}/messages/", json={"body": reply}
    )
    assert status == 201
    for q in ('"please e-mail"', '"e-mail the wheel"', "e-mail", '"please e-mail" wheel'):
        assert _ids((await _search(team, "admin", q))[1]) == [b], q
    assert _ids((await _search(team, "admin", '"please mail"'))[1]) == []
    # One word to the parser, though quoted (an address): found through the word index.
    for q in (
        '"parts@airship.example"',
        "parts@airship.example",
        '"today at" parts@airship.example',
    ):
        assert _ids((await _search(team, "admin", q))[1]) == [b], q
    assert _ids((await _search(team, "admin", '"lost the wheel"'))[1]) == []
    _, body = await _search(team, "admin", '"lost a wheel" OR walrus')
    assert sorted(_ids(body)) == sorted([a, b])
    assert _ids((await _search(team, "admin", 'zeppelin -"lost a wheel" -gear'))[1]) == [a]
    # Asking for a word and excluding it finds nothing, and says so like any empty result.
    for q in ("zeppelin -zeppelin", 'invoice "lost a wheel" -"Lost A Wheel"'):
        status, body = await _search(team, "admin", q)
        assert status == 200 and body["count"] == 0 and body["results"] == [], q
    assert _ids((await _search(team, "admin", "zeppelin -wheel -landing"))[1]) == [a]
    assert sorted(_ids((await _search(team, "admin", "kettle OR invoice"))[1])) == sorted([a, mail])
    assert _ids((await _search(team, "admin", "ZEPPELIN invoice"))[1]) == [a]
    # Customers by name and email.
    _, body = await _search(team, "admin", "Quartermain")
    assert _ids(body) == [mail] and body["results"][0]["matched"] == "customer"
    assert _ids((await _search(team, "admin", "erin@example.net"))[1]) == [mail]
    assert _ids((await _search(team, "admin", '"erin@example.net"'))[1]) == [mail]
    # Snippets carry <mark> and nothing else of the mail's markup.
    _, body = await _search(team, "admin", "kettle")
    snippet = body["results"][0]["snippet"]
    assert "<mark>kettle</mark>" in snippet.lower() or "<mark>Kettle</mark>" in snippet
    assert "<script>" not in snippet and "<b>" not in snippet


async def test_recent_mail_first_finds_what_a_search_of_all_finds(team: Team, desk, monkeypatch):
    """PostgreSQL looks among the newest messages first and at older ones only if those
    hold too few matches. Wherever that split falls, and whether the recent part fills the
    candidates or not, a query must find exactly what a search of all messages finds."""
    queries = ["zeppelin", '"lost a wheel"', "walrus", "kettle OR invoice", "wheel -invoice"]
    for candidates in (1, 2, 200):
        monkeypatch.setattr("desk.search.tickets.CANDIDATES", candidates)
        monkeypatch.setattr("desk.search.tickets.RECENT_MESSAGES", 10**9)  # no split
        expected = {q: (await _search(team, "admin", q))[1] for q in queries}
        assert any(body["results"] for body in expected.values())
        for window in (1, 2, 3):
            monkeypatch.setattr("desk.search.tickets.RECENT_MESSAGES", window)
            for q in queries:
                assert (await _search(team, "admin", q))[1] == expected[q], (q, candidates)


async def test_filters_paging_and_bad_queries(team: Team, desk):
    a, b = desk["a"], desk["b"]
    _, body = await _search(team, "admin", "zeppelin", assigned_agent=str(team.id("agent1")))
    assert _ids(body) == [a]
    status, _ = await team.call(
        "agent2", "POST", f"/api/tickets/{b}/set-status/", json={"status": "RESOLVED"}
    )
    assert status == 200
    assert _ids((await _search(team, "admin", "zeppelin", status="RESOLVED"))[1]) == [b]
    assert _ids((await _search(team, "admin", "zeppelin", priority="URGENT"))[1]) == []
    assert _ids(
        (await _search(team, "admin", "zeppelin", created_after="2000-01-01T00:00:00Z"))[1]
    ) == [b, a]
    assert (
        _ids((await _search(team, "admin", "zeppelin", created_before="2000-01-01T00:00:00Z"))[1])
        == []
    )
    _, first = await _search(team, "admin", "zeppelin", page_size="1")
    assert first["count"] == 2 and len(first["results"]) == 1 and first["next"]
    _, second = await _search(team, "admin", "zeppelin", page_size="1", page="2")
    assert _ids(first) + _ids(second) == [b, a] and second["next"] is None
    for q in ("", "   ", "-zeppelin", '""', "OR"):
        status, body = await _search(team, "admin", q)
        assert status == 400 and "q" in body["details"]["fields"], q


async def test_chat_search_uses_the_same_machinery(team: Team, daemon):
    status, room = await team.call(
        "agent1", "POST", "/api/chat/rooms/", json={"name": "ops", "type": "group"}
    )
    assert status == 201
    for text in ("Deploying the zeppelin fix", "zeppelin deployed", "unrelated"):
        status, _ = await team.call(
            "agent1", "POST", "/api/chat/messages/", json={"room": room["id"], "body": text}
        )
        assert status == 201
    _, found = await team.call(
        "agent1", "GET", "/api/chat/messages/", params={"search": "zeppelin -deployed"}
    )
    assert [m["body"] for m in found["results"]] == ["Deploying the zeppelin fix"]
    _, found = await team.call(
        "agent2", "GET", "/api/chat/messages/", params={"search": "zeppelin"}
    )
    assert found["results"] == []  # not in that room


async def test_company_admins_and_deactivated_users(team: Team, desk, make_user, api):
    """cora administers the company of example.com (carol and dave): she finds both their
    tickets, never the note; a deactivated agent finds nothing at all."""
    cora = await make_user("cora@example.com", "customer")
    status, _ = await team.call(
        "admin",
        "POST",
        "/api/admin/companies/",
        json={"name": "Example", "domains": ["example.com"]},
    )
    assert status == 201
    status, _ = await team.call(
        "admin", "PATCH", f"/api/admin/users/{cora.id}/", json={"is_company_admin": True}
    )
    assert status == 200
    team.tokens["cora"] = await api.token("cora@example.com", PASSWORD)
    _, body = await _search(team, "cora", "zeppelin")
    assert sorted(_ids(body)) == sorted([desk["a"], desk["b"]])
    assert _ids((await _search(team, "cora", "walrus"))[1]) == []
    assert _ids((await _search(team, "cora", "kettle"))[1]) == []  # erin is not in it
    status, _ = await team.call(
        "admin", "PATCH", f"/api/admin/users/{team.id('agent1')}/", json={"is_active": False}
    )
    assert status == 200
    assert (await _search(team, "agent1", "zeppelin"))[0] == 401


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('"late parcel"', True),
        ('"late parcel" "tracking 42"', True),
        ('"late parcel now"', False),
        ('"parcel"', False),
        ('parcel "late parcel"', False),
        ('"late parcel" OR "lost parcel"', False),
        ('-"late parcel" parcel', False),
        ('"e-mail address"', False),
        ('"snake_case word"', False),
        ('"Straße 5"', False),
    ],
)
def test_which_queries_the_word_pairs_answer_alone(query: str, expected: bool):
    """Only a query made of two-word phrases (plain words that both engines split the same
    way) is answered from word pairs without checking positions on PostgreSQL."""
    assert pairs_only(query) is expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("refund -refund", True),
        ('"late parcel" -"Late Parcel"', True),
        ("refund -invoice", False),
        ("refund OR invoice -refund", False),
        ("-refund refunds", False),
    ],
)
def test_contradictions_are_recognised(query: str, expected: bool):
    assert contradictory(query) is expected


async def test_a_cjk_word_is_found_inside_a_run_of_cjk_text(team: Team, daemon):
    """Japanese, Chinese and Korean write words without spaces: a word is found wherever
    it stands in the run, on either engine, with the query syntax as for other words."""
    japanese = "お世話になっております。請求書の件でご連絡いたしました。金額をご確認ください。"
    raw, _ = make_mail(
        sender="sato@example.jp", name="佐藤花子", subject="お支払いについて", body=japanese
    )
    await send(daemon.smtp_port, raw, sender="sato@example.jp")
    await settled(daemon, 1)
    _, found = await _search(team, "admin", "請求書")
    [jp] = _ids(found)
    assert "<mark>請求書</mark>" in found["results"][0]["snippet"]
    assert "\u200b" not in found["results"][0]["snippet"]
    cn = await team.open_ticket(
        "carol", "无法登录我的帐户", description="请帮忙我的帐户被锁定了密码也不对"
    )
    kr = await team.open_ticket("dave", "청구서 문의", description="지난달청구서를다시보내주세요")
    expected = {
        "金額": [jp],  # two characters, mid-run
        '"請求書の件"': [jp],
        "帐户": [cn],  # in the subject and in the body
        "锁定": [cn],
        "登录 帐户": [cn],
        "清求书": [],  # one character differs
        "請書": [],  # both characters are there, not next to each other
        "請求書 -金額": [],
        "請求書 OR 锁定": sorted([jp, cn]),
        "청구서": [kr],  # inside 지난달청구서를다시보내주세요
        "花子": [jp],  # the customer's name
    }
    for q, ids in expected.items():
        assert sorted(_ids((await _search(team, "admin", q))[1])) == ids, q
    _, found = await _search(team, "admin", "登录")
    assert found["results"][0]["matched"] == "subject"
    assert "<mark>登录</mark>" in found["results"][0]["snippet"]
    # Latin words next to CJK ones keep their own matching.
    reply = "Invoice 請求書 sent again"
    status, _ = await team.call(
        "agent1", "POST", f"/api/tickets/{cn}/messages/", json={"body": reply}
    )
    assert status == 201
    assert _ids((await _search(team, "admin", '"invoice 請求書 sent"'))[1]) == [cn]
    status, room = await team.call(
        "agent1", "POST", "/api/chat/rooms/", json={"name": "jp", "type": "group"}
    )
    assert status == 201
    status, _ = await team.call(
        "agent1",
        "POST",
        "/api/chat/messages/",
        json={"room": room["id"], "body": "デプロイ完了しました"},
    )
    assert status == 201
    _, found = await team.call("agent1", "GET", "/api/chat/messages/", params={"search": "完了"})
    assert [m["body"] for m in found["results"]] == ["デプロイ完了しました"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("請求書", '"請\u200b求\u200b書"'),
        (
            '-請求書 OR "請求書の件" invoice',
            '-"請\u200b求\u200b書" OR "請\u200b求\u200b書\u200bの\u200b件" invoice',
        ),
        ('"lost a wheel" -gear', '"lost a wheel" -gear'),
        ('請"求', '"請 求"'),
    ],
)
def test_cjk_words_are_phrases_of_their_characters_for_postgresql(query: str, expected: str):
    assert for_postgres(query) == expected


def _migrate(connection: Any, revision: str, *, down: bool = False) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    (command.downgrade if down else command.upgrade)(cfg, revision)


async def _found_by(conn: Any, is_sqlite: bool, query: str) -> list[int]:
    if is_sqlite:
        sql = "SELECT rowid FROM search_users WHERE search_users MATCH :q"
        found = await conn.execute(sa.text(sql), {"q": fts5(query)})
    else:
        sql = "SELECT id FROM users WHERE search_vector @@ websearch_to_tsquery('simple', :q)"
        found = await conn.execute(sa.text(sql), {"q": for_postgres(query)})
    return [row[0] for row in found]


@pytest.mark.empty_database
async def test_migration_indexes_what_was_there_and_goes_back(database_url, tmp_path):
    """0024 on a desk with CJK text already in it: the text is found by its words; the
    downgrade restores the index of before (a run found whole only)."""
    url = database_url or f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    engine = create_async_engine(url)
    is_sqlite = url.startswith("sqlite")
    if is_sqlite:  # as the daemon's connections have it (desk/db.py)

        @sa.event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.create_function("search_text", 1, search_text, deterministic=True)

    try:
        async with engine.begin() as conn:
            await conn.run_sync(_migrate, "0023")
            await conn.execute(
                sa.text(
                    "INSERT INTO users (email, name, role, is_active, created_at, is_available, "
                    "capacity, notify_on_reply, is_company_admin) VALUES ('sato@example.jp', "
                    "'佐藤花子', 'CUSTOMER', :t, CURRENT_TIMESTAMP, :f, 10, :t, :f)"
                ),
                {"t": True, "f": False},
            )
            assert await _found_by(conn, is_sqlite, "花子") == []
            await conn.run_sync(_migrate, "0024")
            [user] = await _found_by(conn, is_sqlite, "花子")
            assert await _found_by(conn, is_sqlite, "佐藤花子") == [user]
            await conn.run_sync(_migrate, "0023", down=True)
            assert await _found_by(conn, is_sqlite, "花子") == []
    finally:
        await engine.dispose()
