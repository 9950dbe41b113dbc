"""Files by multipart upload: kept by content hash, mailed with a public reply, downloaded
only by those who may see the message they belong to."""

from __future__ import annotations

import aiohttp
import pytest

from tests.conftest import SHARED
from tests.people import Team
from tests.support import wait_for_value

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def _form(body: str, files: list[tuple[str, bytes, str]], **fields: str) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("body", body)
    for name, value in fields.items():
        form.add_field(name, value)
    for filename, data, content_type in files:
        form.add_field("files", data, filename=filename, content_type=content_type)
    return form


async def _download(team: Team, who: str, attachment_id: int) -> tuple[int, bytes, dict]:
    async with team.api.http.get(
        f"{team.api.base}/api/attachments/{attachment_id}/",
        headers={"Authorization": f"Bearer {team.tokens[who]}"},
    ) as r:
        return r.status, await r.read(), dict(r.headers)


async def test_reply_with_attachment_is_mailed_and_downloadable(team: Team, sink):
    t = await team.open_ticket("carol", "Screenshot please")
    form = _form("Here is the fixed layout.", [("../../etc/pass wd.png", PNG, "image/png")])
    code, body = await team.call("agent1", "POST", f"/api/tickets/{t}/messages/", data=form)
    assert code == 201, body
    # The customer's mail carries the file.
    mails = await wait_for_value(
        lambda: (m := sink.to("carol@example.com"))[1:] and m, what="reply with attachment"
    )
    [part] = list(mails[1].iter_attachments())
    assert part.get_content() == PNG and part.get_content_type() == "image/png"
    # The customer downloads it; the name is never a path, the response never renders.
    _, detail = await team.call("carol", "GET", f"/api/tickets/{t}/")
    [att] = [a for m in detail["messages"] for a in m["attachments"]]
    assert att["size"] == len(PNG) and att["content_type"] == "image/png"
    status, data, headers = await _download(team, "carol", att["id"])
    assert status == 200 and data == PNG
    assert headers["Content-Disposition"].startswith("attachment;")
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert (await _download(team, "dave", att["id"]))[0] == 404
    assert (await _download(team, "agent2", att["id"]))[0] == 200  # unassigned: visible
    assert (await team.call(None, "GET", f"/api/attachments/{att['id']}/"))[0] == 401
    assert (await team.call("carol", "GET", "/api/attachments/999999/"))[0] == 404


async def test_attachment_on_internal_note_is_staff_only(team: Team):
    t = await team.open_ticket("carol", "Logs")
    form = _form("server log", [("log.txt", b"secret internals", "text/plain")], is_internal="true")
    code, body = await team.call("agent1", "POST", f"/api/tickets/{t}/messages/", data=form)
    assert code == 201 and body["is_internal"]
    _, detail = await team.call("agent1", "GET", f"/api/tickets/{t}/")
    [att] = [a for m in detail["messages"] for a in m["attachments"]]
    assert (await _download(team, "agent1", att["id"]))[:2] == (200, b"secret internals")
    assert (await _download(team, "carol", att["id"]))[0] == 404


async def test_customer_opens_ticket_with_files(team: Team):
    form = aiohttp.FormData()
    for name, value in (("subject", "With file"), ("description", "see attached")):
        form.add_field(name, value)
    form.add_field("files", b"%PDF-1.4 fake", filename="a.pdf", content_type="application/pdf")
    code, body = await team.call("carol", "POST", "/api/tickets/", data=form)
    assert code == 201, body
    [att] = body["messages"][0]["attachments"]
    assert att["filename"] == "a.pdf"


@pytest.mark.parametrize(
    "files,status,code",
    [
        ([("big.png", b"x" * (64 * 1024 + 1), "image/png")], 413, "too_large"),
        ([("evil.html", b"<script>", "text/html")], 415, "unsupported_media_type"),
        ([("run.exe", b"MZ", "application/x-msdownload")], 415, "unsupported_media_type"),
    ],
)
@SHARED
async def test_upload_limits(shared_team: Team, files, status, code):
    t = await shared_team.open_ticket("carol")  # a ticket of its own: the module shares a desk
    got, body = await shared_team.call(
        "agent1", "POST", f"/api/tickets/{t}/messages/", data=_form("x", files)
    )
    assert got == status and body["error"] == code
    _, detail = await shared_team.call("agent1", "GET", f"/api/tickets/{t}/")
    assert len(detail["messages"]) == 1  # nothing half-written


@SHARED
async def test_bad_multipart_is_a_clear_error(shared_team: Team):
    t = await shared_team.open_ticket("carol")
    url = f"/api/tickets/{t}/messages/"
    form = aiohttp.FormData()
    form.add_field("other", b"x", filename="x.txt", content_type="text/plain")
    form.add_field("body", "hi")
    code, body = await shared_team.call("agent1", "POST", url, data=form)
    assert code == 400 and "other" in body["details"]["fields"]
    form = aiohttp.FormData()
    form.add_field("files", b"x", filename="x.txt", content_type="text/plain")
    code, body = await shared_team.call("agent1", "POST", url, data=form)
    assert code == 400 and "body" in body["details"]["fields"]
    _, detail = await shared_team.call("agent1", "GET", url.removesuffix("messages/"))
    assert len(detail["messages"]) == 1  # nothing half-written


NAMES = {  # as uploaded -> as kept, mailed and downloaded
    "../../../../tmp/evil.txt": "evil.txt",
    "/etc/passwd": "passwd",
    ".": "attachment",
    "..": "attachment",
    "C:\\\\Users\\\\me\\\\report.txt": "report.txt",  # escaped in the quoted string
    "tab\there.txt": "tab here.txt",
}


async def _post_raw_form(team: Team, url: str, parts: list[bytes]) -> tuple[int, dict]:
    """A multipart body written out as curl writes one (aiohttp's FormData would
    percent-encode the file names): each part is `Content-Disposition...` + content."""
    body = b"".join(b"--b\r\n" + part + b"\r\n" for part in parts) + b"--b--\r\n"
    async with team.api.http.post(
        f"{team.api.base}{url}",
        data=body,
        headers={
            "Authorization": f"Bearer {team.tokens['agent1']}",
            "Content-Type": "multipart/form-data; boundary=b",
        },
    ) as r:
        return r.status, await r.json()


def _file_part(filename: bytes) -> bytes:
    return (
        b'Content-Disposition: form-data; name="files"; filename="' + filename + b'"\r\n'
        b"Content-Type: text/plain\r\n\r\nx"
    )


BODY_PART = b'Content-Disposition: form-data; name="body"\r\n\r\nfiles'


async def test_uploaded_file_names_keep_only_their_last_component(team: Team, sink):
    """The same rule as for files in inbound mail (desk.mail.headers.safe_filename)."""
    t = await team.open_ticket("carol", "Names")
    files = [_file_part(name.encode()) for name in NAMES]
    url = f"/api/tickets/{t}/messages/"
    code, body = await _post_raw_form(team, url, [BODY_PART, *files])
    assert code == 201, body
    _, detail = await team.call("carol", "GET", f"/api/tickets/{t}/")
    kept = [a for m in detail["messages"] for a in m["attachments"]]
    assert [a["filename"] for a in kept] == list(NAMES.values())
    mails = await wait_for_value(
        lambda: (m := sink.to("carol@example.com"))[1:] and m, what="reply with files"
    )
    assert [p.get_filename() for p in mails[1].iter_attachments()] == list(NAMES.values())
    _, _, headers = await _download(team, "carol", kept[0]["id"])
    assert "evil.txt" in headers["Content-Disposition"]
    assert "/" not in headers["Content-Disposition"].partition("filename")[2]


async def test_a_part_whose_disposition_cannot_be_read_is_named_so(team: Team):
    """A name a script wrote without quoting (`filename=a"b.txt`): the answer says what is
    wrong, not "nested multipart is not accepted" as it once did."""
    t = await team.open_ticket("carol", "Quotes")
    url = f"/api/tickets/{t}/messages/"
    unquoted = b'Content-Disposition: form-data; name="files"; filename=a"b.txt\r\n\r\nx'
    code, answer = await _post_raw_form(team, url, [BODY_PART, unquoted])
    assert code == 400 and "nested" not in answer["message"], answer
    assert "Content-Disposition" in answer["message"]


async def test_a_new_message_answers_its_attachments_as_the_detail_shows_them(team: Team):
    t = await team.open_ticket("carol", "Two files")
    form = _form("Both attached.", [("a.png", PNG, "image/png"), ("b.txt", b"hello", "text/plain")])
    code, posted = await team.call("agent1", "POST", f"/api/tickets/{t}/messages/", data=form)
    assert code == 201, posted
    _, detail = await team.call("agent1", "GET", f"/api/tickets/{t}/")
    [shown] = [m["attachments"] for m in detail["messages"] if m["id"] == posted["id"]]
    assert posted["attachments"] == shown and all(a["id"] for a in shown)
    status, data, _ = await _download(team, "agent1", posted["attachments"][0]["id"])
    assert status == 200 and data == PNG
