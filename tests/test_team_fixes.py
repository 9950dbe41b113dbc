"""Smaller holes a tester found in the team features: chat rooms for queues one is not in,
LIKE wildcards in directory searches, deleting a ticket others are merged into, and loose
numbers in bodies."""

from __future__ import annotations

from typing import Any

from tests.people import Team


async def test_a_room_for_a_queue_takes_a_queue_the_caller_works(team: Team, make_user: Any):
    team.users["outsider"] = await make_user("outsider@localhost", "agent")
    team.tokens["outsider"] = await team.api.token("outsider@localhost", "correct horse 1")
    code, sales = await team.call("admin", "POST", "/api/queues/", json={"name": "Sales"})
    assert code == 201
    room = {"name": "deals", "type": "group", "participant_ids": []}
    for project in (sales["id"], 999):  # not theirs, not there: the same answer
        code, body = await team.call(
            "agent1", "POST", "/api/chat/rooms/", json={**room, "project": project}
        )
        assert code == 400 and list(body["details"]["fields"]) == ["project"], body
    code, body = await team.call(
        "admin", "POST", "/api/chat/rooms/", json={**room, "project": sales["id"]}
    )
    assert code == 201 and body["project"] == sales["id"]
    code, body = await team.call(
        "agent1", "POST", "/api/chat/rooms/", json={**room, "project": "ops"}
    )
    assert code == 201 and body["project_label"] == "ops"  # a free label stays free


async def test_searches_take_wildcards_literally(team: Team):
    for path in ("/api/customers/", "/api/staff/", "/api/admin/users/"):
        for search in ("%25", "_", "%5C"):
            code, found = await team.call("admin", "GET", f"{path}?search={search}")
            assert code == 200 and found["count"] == 0, (path, search, found)
        code, found = await team.call("admin", "GET", f"{path}?search=o")
        assert code == 200 and found["count"] > 0, path


async def test_a_ticket_others_are_merged_into_is_not_deleted(team: Team):
    source = await team.open_ticket("carol", "Invoice")
    target = await team.open_ticket("carol", "Invoice again")
    code, _ = await team.call(
        "admin", "POST", f"/api/tickets/{source}/merge/", json={"into": target}
    )
    assert code == 200
    code, refused = await team.call("admin", "DELETE", f"/api/tickets/{target}/")
    assert code == 409 and refused["details"] == {"reason": "merge_target", "merged": [source]}
    assert f"#{source}" in refused["message"]
    _, seen = await team.call("admin", "GET", f"/api/tickets/{source}/")
    assert seen["merged_into"] == target
    # The merged ticket goes first; then its target may.
    assert (await team.call("admin", "DELETE", f"/api/tickets/{source}/"))[0] == 204
    assert (await team.call("admin", "DELETE", f"/api/tickets/{target}/"))[0] == 204


async def test_numbers_are_numbers_and_refusals_name_their_thing(team: Team):
    ticket = await team.open_ticket("carol", "Slow")
    code, body = await team.call("carol", "GET", "/api/tickets/export/")
    assert code == 403 and body["message"] == "ticket exports are for agents and admins"
    t = f"/api/tickets/{ticket}/"
    for path, wrong in (("time/", {"minutes": "60"}), ("move/", {"column": True})):
        code, body = await team.call("agent1", "POST", t + path, json=wrong)
        assert code == 400 and list(body["details"]["fields"]) == list(wrong), body
    code, body = await team.call("agent1", "POST", t + "time/", json={"minutes": 60})
    assert code == 201 and body["minutes"] == 60


async def test_a_queue_takes_no_persons_role_or_overlong_address(team: Team):
    code, sales = await team.call("admin", "POST", "/api/queues/", json={"name": "Sales"})
    assert code == 201
    path = f"/api/queues/{sales['id']}/"
    code, body = await team.call("admin", "PATCH", path, json={"addresses": ["admin@localhost"]})
    assert code == 409 and body["details"]["reason"] == "account_address", body
    for wrong in ("postmaster@localhost", "MAILER-DAEMON@localhost", "a" * 65 + "@localhost"):
        code, body = await team.call("admin", "PATCH", path, json={"addresses": [wrong]})
        assert code == 400 and list(body["details"]["fields"]) == ["addresses"], (wrong, body)
    code, body = await team.call("admin", "PATCH", path, json={"addresses": ["sales@localhost"]})
    assert code == 200 and body["addresses"] == ["sales@localhost"]


async def test_the_staff_directory_shows_a_queues_members_to_its_members_only(
    team: Team, make_user: Any
):
    code, sales = await team.call("admin", "POST", "/api/queues/", json={"name": "Sales"})
    assert code == 201
    member = {"user_id": team.id("agent2"), "role": "manager"}
    assert (await team.call("admin", "POST", f"/api/queues/{sales['id']}/members/", json=member))[
        0
    ] == 201
    assert (await team.call("agent1", "GET", f"/api/queues/{sales['id']}/members/"))[0] == 404
    assert (await team.call("agent1", "GET", f"/api/staff/?queue={sales['id']}"))[0] == 404

    async def queues_of_agent2(viewer: str) -> set[int]:
        code, found = await team.call(viewer, "GET", "/api/staff/?page_size=100")
        assert code == 200
        [row] = [r for r in found["results"] if r["id"] == team.id("agent2")]
        return {q["id"] for q in row["queues"]}

    assert sales["id"] not in await queues_of_agent2("agent1")
    assert sales["id"] in await queues_of_agent2("agent2")
    assert sales["id"] in await queues_of_agent2("admin")
    code, found = await team.call("agent2", "GET", f"/api/staff/?queue={sales['id']}")
    assert code == 200 and [r["id"] for r in found["results"]] == [team.id("agent2")]


async def test_a_field_given_under_both_names_must_agree(team: Team):
    """S1's and S2's names for our fields (`otp`, `content`, `message_type`, `username`):
    given with ours and different, the answer is 400 naming both, never one picked."""
    code, room = await team.call(
        "agent1", "POST", "/api/chat/rooms/", json={"name": "ops", "type": "group"}
    )
    assert code == 201
    say = "/api/chat/messages/"
    for body in (
        {"room": room["id"], "content": "both", "body": "other"},
        {"room": room["id"], "body": "hi", "type": "text", "message_type": "image"},
    ):
        code, answer = await team.call("agent1", "POST", say, json=body)
        assert code == 400, answer
        assert all(name in answer["message"] for name in list(body)[1:][-2:]), answer
    code, said = await team.call(
        "agent1", "POST", say, json={"room": room["id"], "content": "same", "body": "same"}
    )
    assert code == 201 and said["body"] == "same"
    edit = f"/api/chat/messages/{said['id']}/"
    code, answer = await team.call("agent1", "PATCH", edit, json={"body": "a", "content": "b"})
    assert code == 400 and "body" in answer["message"] and "content" in answer["message"]
    code, answer = await team.call(
        None,
        "POST",
        "/api/auth/verify-otp/",
        json={"email": "carol@example.com", "code": "123456", "otp": "654321"},
    )
    assert code == 400 and "code" in answer["message"] and "otp" in answer["message"]
    code, answer = await team.call(
        None,
        "POST",
        "/api/auth/token/",
        json={"email": "carol@example.com", "username": "dave@example.com", "password": "x"},
    )
    assert code == 400 and "username" in answer["message"], answer
