"""No request body or query string gets a 500: what an attacker (or a fuzzer) sends gets a
400 in the standard error shape. The named cases first, then schemathesis, let loose on
/api/openapi.json of a running daemon for a bounded budget, asserting not one 5xx."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from tests.conftest import SHARED
from tests.people import Team

MULTIPART = "multipart/form-data; boundary=B"
BAD_FORMS = {
    "no boundary": ("multipart/form-data", b"xx"),
    "no starting boundary": (MULTIPART, b"xx"),
    "part header that does not parse": (
        MULTIPART,
        b'--B\r\nContent-Disposition: form-data; name="subject\r\n'
        b"Broken header\r\n\r\nhi\r\n--B--\r\n",
    ),
    "base64 part that does not decode": (
        MULTIPART,
        b'--B\r\nContent-Disposition: form-data; name="subject"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n!!!notb64\r\n--B--\r\n",
    ),
}


async def _post_raw(team: Team, data: bytes, content_type: str) -> tuple[int, object]:
    """A body sent as is, by a signed-in customer (Api.call sets its own headers)."""
    headers = {"Authorization": f"Bearer {team.tokens['carol']}", "Content-Type": content_type}
    url = f"{team.api.base}/api/tickets/"
    async with team.api.http.post(url, data=data, headers=headers) as r:
        return r.status, await r.json(content_type=None)


def _standard_400(status: int, body: object) -> None:
    assert status == 400, body
    assert isinstance(body, dict) and set(body) == {"error", "message", "details"}, body


@SHARED
@pytest.mark.parametrize("depth", [100_000, 3_000])
async def test_deeply_nested_json_is_a_400(shared_team: Team, depth: int):
    for nested in ("[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth):
        status, body = await _post_raw(shared_team, nested.encode(), "application/json")
        _standard_400(status, body)


@SHARED
@pytest.mark.parametrize("case", list(BAD_FORMS))
async def test_malformed_multipart_is_a_400(shared_team: Team, case: str):
    content_type, data = BAD_FORMS[case]
    status, body = await _post_raw(shared_team, data, content_type)
    _standard_400(status, body)


@SHARED
@pytest.mark.parametrize(
    "query",
    [
        "/api/tickets/?assigned_agent=99999999999999999999999",
        "/api/tickets/?assigned_agent=-18446744073709551617",
        "/api/admin/users/?company=18446744073709551616",
        "/api/tickets/?created_after=9999-12-31T23:59:59-23:59",
        "/api/tickets/?updated_before=0001-01-01T00:00:00%2B23:59",
        "/api/tickets/search/?q=printer&created_before=9999-12-31T23:59:59-23:59",
        "/api/analytics/resolution/?since=0001-01-01T00:00:00%2B23:59",
        "/api/analytics/resolution/?until=9999-12-31T23:59:59-23:59",
        "/api/tickets/?tag=a%00b",  # PostgreSQL's text cannot hold NUL
    ],
)
async def test_filters_out_of_range_are_a_400(shared_team: Team, query: str):
    status, body = await shared_team.call("admin", "GET", query)
    _standard_400(status, body)


@SHARED
async def test_text_with_nul_is_a_400(shared_team: Team):
    status, body = await shared_team.call(
        "carol", "POST", "/api/tickets/", json={"subject": "a\x00b", "description": "x"}
    )
    _standard_400(status, body)
    assert "subject" in body["details"]["fields"]


@pytest.mark.slow
async def test_schemathesis_finds_no_server_error(team: Team, tmp_path: Path):
    """Every operation of the OpenAPI document, as the admin, with generated valid and
    invalid input: at most EXAMPLES per operation and phase, the whole run within BUDGET
    seconds (a fixed seed, so a failure replays). Sending raw MIME is left out: schemathesis
    cannot write message/rfc822 (test_hostile_mail.py covers that endpoint), and so are
    the features this daemon leaves unconfigured."""
    examples, budget = os.environ.get("POSTDESK_FUZZ_EXAMPLES", "5"), "60"
    cli = Path(sys.executable).with_name("schemathesis")
    process = await asyncio.create_subprocess_exec(
        str(cli),
        "run",
        f"{team.api.base}/api/openapi.json",
        "--checks=not_a_server_error",
        f"--max-examples={examples}",
        f"--max-time={budget}",
        "--phases=examples,coverage,fuzzing",
        "--workers=1",  # CPython 3.11's ast.parse is not thread-safe (hypothesis uses it)
        "--seed=1",
        "--no-shrink",
        "--request-timeout=20",
        "--exclude-path=/api/inbound/mime/",
        # Features this daemon has not configured answer their documented 503 (Google
        # sign-in without a client id, AI drafts without a Gemini key); their own tests
        # cover them configured.
        "--exclude-path=/api/auth/google/",
        "--exclude-path-regex=/ai-draft/$",
        "--warnings=off",
        f"--header=Authorization: Bearer {team.tokens['admin']}",
        cwd=tmp_path,  # its example database and reports stay out of the tree
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    report = output.decode(errors="replace")
    assert process.returncode == 0, report[-6000:]
    assert " passed" in report and "Server error" not in report


@SHARED
async def test_null_for_a_field_that_cannot_be_empty_is_a_400(shared_team: Team):
    """Found by schemathesis on PostgreSQL (a NOT NULL violation answered 500)."""
    carol = shared_team.id("carol")
    status, body = await shared_team.call(
        "admin", "PATCH", f"/api/admin/users/{carol}/", json={"is_active": None, "role": None}
    )
    _standard_400(status, body)


@SHARED
async def test_null_for_a_queue_field_is_a_400(shared_team: Team):
    """Found by schemathesis: a queue edit naming null fields answered 500."""
    status, body = await shared_team.call(
        "admin", "PATCH", "/api/queues/1/", json={"name": None, "addresses": None}
    )
    _standard_400(status, body)
