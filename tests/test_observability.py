"""What an operator sees (issue 19, observability): /readyz, /metrics, and log lines that
tell the story, all from a real daemon over real sockets."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from daemon.lifecycle import Running, started
from daemon.logs import log_handler
from desk.config import load_settings
from tests.conftest import REDIS_URL, bounded
from tests.people import Team
from tests.sockets import Live
from tests.support import Api, TcpProxy, free_port, make_mail, send, settled, wait_for
from tests.test_stop import start_daemon

TOKEN = "scrape-token-for-tests"
BODY = "Hello, my printer is on fire."
PASSWORD = "correct horse 1"


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    return {**env, "POSTDESK_METRICS_TOKEN": TOKEN}


async def scrape(api: Api) -> str:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with api.http.get(f"{api.base}/metrics", headers=headers) as r:
        assert r.status == 200, await r.text()
        assert r.content_type == "text/plain"
        return await r.text()


def value(exposition: str, name: str, **labels: str) -> float:
    """One sample's value (0 when the series does not exist yet)."""
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


# -- readiness ------------------------------------------------------------------------------


async def test_ready_when_the_database_is_at_the_latest_migration(api: Api) -> None:
    assert await api.call("GET", "/readyz") == (200, {"status": "ready"})
    assert await api.call("GET", "/healthz") == (200, {"status": "ok"})


async def test_not_ready_while_the_database_is_behind_the_latest_migration(
    api: Api, daemon: Running
) -> None:
    async with daemon.desk.db.writer() as session:
        head = await session.scalar(text("SELECT version_num FROM alembic_version"))
        await session.execute(text("UPDATE alembic_version SET version_num = '0003'"))
    status, body = await api.call("GET", "/readyz")
    assert status == 503
    assert body["error"] == "not_ready"
    problem = body["details"]["checks"]["database"]
    assert "migration 0003" in problem and str(head) in problem and "postdesk migrate" in problem
    assert (await api.call("GET", "/healthz"))[0] == 200  # alive all the same
    async with daemon.desk.db.writer() as session:
        await session.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head})
    assert (await api.call("GET", "/readyz"))[0] == 200


async def test_not_ready_while_redis_does_not_answer(env: dict[str, str]) -> None:
    host, port = REDIS_URL.split("//")[1].split("/")[0].split(":")
    proxy = TcpProxy(host, int(port))
    await proxy.start()
    settings = load_settings(
        {**env, "POSTDESK_REDIS_URL": f"redis://127.0.0.1:{proxy.port}/0"}, read_dotenv=False
    )
    context = started(settings)
    await context.__aenter__()
    try:
        async with aiohttp.ClientSession() as http:
            api = Api(base=f"http://127.0.0.1:{settings.http_port}", http=http)
            assert (await api.call("GET", "/readyz"))[0] == 200
            await proxy.cut()
            status, body = await api.call("GET", "/readyz")
            assert status == 503
            assert f"Redis at 127.0.0.1:{proxy.port}" in body["details"]["checks"]["redis"]
            assert "database" not in body["details"]["checks"]
            assert body["message"].startswith("not ready: redis: ")
            await proxy.start()
            assert (await api.call("GET", "/readyz"))[0] == 200
    finally:
        await bounded(context.__aexit__(None, None, None), "stopping the daemon")
        await proxy.cut()


# -- metrics --------------------------------------------------------------------------------


async def test_metrics_need_the_scrape_token(api: Api) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        async with api.http.get(f"{api.base}/metrics", headers=headers) as r:
            assert r.status == 401
            assert (await r.json())["error"] == "not_authenticated"
    assert "postdesk_mail_received" in await scrape(api)


async def test_metrics_are_not_served_without_a_token(env: dict[str, str]) -> None:
    plain = {k: v for k, v in env.items() if k != "POSTDESK_METRICS_TOKEN"}
    settings = load_settings(
        {**plain, "POSTDESK_HTTP_PORT": str(free_port()), "POSTDESK_SMTP_PORT": str(free_port())},
        read_dotenv=False,
    )
    context = started(settings)
    await context.__aenter__()
    try:
        async with aiohttp.ClientSession() as http:
            api = Api(base=f"http://127.0.0.1:{settings.http_port}", http=http)
            status, body = await api.call("GET", "/metrics", token=TOKEN)
            assert status == 404
            assert "POSTDESK_METRICS_TOKEN" in body["message"]
    finally:
        await bounded(context.__aexit__(None, None, None), "stopping the daemon")


async def test_counters_move_with_mail_and_requests(api: Api, daemon: Running, sink: Any) -> None:
    before = await scrape(api)
    assert daemon.smtp_port is not None
    await send(daemon.smtp_port, make_mail(body=BODY)[0])
    await settled(daemon, 1)
    for _ in range(2):
        assert (await api.call("GET", "/healthz"))[0] == 200
    assert (await api.call("GET", "/api/tickets/123/?token=very-secret"))[0] == 401
    assert (await api.call("GET", "/no/such/path?token=very-secret"))[0] == 404

    async def acknowledged() -> str | None:
        # Both: a scrape reads the database, then the counters; the send may finish between.
        now = await scrape(api)
        sent = value(now, "postdesk_outbox_sent_total") >= 1
        return now if sent and value(now, "postdesk_outbox_mails", state="sent") == 1 else None

    after = await wait_for(acknowledged, what="the acknowledgement counted as sent")
    received = "postdesk_mail_received_total"
    assert value(after, received, source="smtp") - value(before, received, source="smtp") == 1
    assert value(after, "postdesk_mail_settled_total", state="processed") == 1
    assert value(after, "postdesk_outbox_sent_total") == 1
    assert value(after, "postdesk_outbox_failed_total") == 0
    assert value(after, "postdesk_outbox_mails", state="sent") == 1
    assert value(after, "postdesk_inbound_waiting") == 0
    assert value(after, "postdesk_inbound_lag_seconds") == 0
    assert value(after, "postdesk_smtp_sessions_refused_total") == 0
    health = {"route": "/healthz", "method": "GET"}
    assert value(after, "postdesk_http_requests_total", **health, status="200") == 2
    assert value(after, "postdesk_http_request_duration_seconds_count", **health) == 2
    ticket = {"route": "/api/tickets/{id}/", "method": "GET", "status": "401"}
    assert value(after, "postdesk_http_requests_total", **ticket) == 1
    unmatched = {"route": "(unmatched)", "method": "GET", "status": "404"}
    assert value(after, "postdesk_http_requests_total", **unmatched) == 1
    assert "very-secret" not in after and "/no/such/path" not in after and "/123/" not in after


# -- logs -----------------------------------------------------------------------------------


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The daemon's log as POSTDESK_LOG_FORMAT=json writes it, from INFO up."""
    stream = io.StringIO()
    handler = log_handler(stream, "json")
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def entries(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]  # each line parses


def one(found: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    matching = [e for e in found if all(e.get(k) == v for k, v in fields.items())]
    assert len(matching) == 1, (fields, found)
    return matching[0]


async def test_json_log_tells_the_story_of_a_mail(
    api: Api, daemon: Running, sink: Any, json_log: io.StringIO
) -> None:
    assert daemon.smtp_port is not None
    raw = make_mail(body=BODY)[0]
    await send(daemon.smtp_port, raw)
    [inbound] = await settled(daemon, 1)

    def sent() -> list[dict[str, Any]]:
        return [e for e in entries(json_log) if "outbox_id" in e and "relay" in e]

    async def logged() -> list[dict[str, Any]]:
        return sent()

    await wait_for(logged, what="the sent line")
    found = entries(json_log)
    received = one(found, logger="desk.intake", inbound_id=inbound.id)
    assert received["source"] == "smtp" and received["size"] == len(inbound.raw)  # CRLF
    assert received["mail_from"] == "alice@example.com" and received["level"] == "INFO"
    processed = one(found, logger="desk.inbound_batches", inbound_id=inbound.id)
    assert processed["state"] == "processed" and processed["ticket_id"] == inbound.ticket_id
    assert processed["thread_rule"] == inbound.thread_rule and processed["thread_rule"]
    [line] = sent()
    assert line["recipients"] == ["alice@example.com"] and line["relay"]  # the sink's answer
    assert BODY not in json_log.getvalue()


async def test_json_log_of_logins_keeps_secrets_out(
    api: Api, make_user: Any, json_log: io.StringIO
) -> None:
    await make_user("agent@localhost", "agent", PASSWORD)
    wrong = {"email": "agent@localhost", "password": "not-the-password-42"}
    assert (await api.call("POST", "/api/auth/token/", json=wrong))[0] == 401
    access = await api.token("agent@localhost", PASSWORD)
    status, _ = await api.call("GET", f"/api/me/?access_token={access}", token=access)
    assert status == 200
    found = entries(json_log)
    failed = one(found, message="login failed for agent@localhost from 127.0.0.1")
    assert failed["level"] == "WARNING" and failed["login"] == "agent@localhost"
    assert one(found, message="login as agent@localhost from 127.0.0.1")["client"] == "127.0.0.1"
    token_route = [e for e in found if e.get("route") == "/api/auth/token/"]
    assert sorted(e["status"] for e in token_route) == [200, 401]
    assert all(e["method"] == "POST" and e["duration_ms"] >= 0 for e in token_route)
    one(found, route="/api/me/", status=200)
    text_of_log = json_log.getvalue()
    for secret in (PASSWORD, "not-the-password-42", access):
        assert secret not in text_of_log


async def test_a_malformed_request_is_one_warning(
    api: Api, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    reader, writer = await asyncio.open_connection("127.0.0.1", settings.http_port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n")
    await writer.drain()
    answer = await reader.read()
    writer.close()
    assert answer.split(b"\r\n")[0].endswith(b" 400 Bad Request")
    server = [r for r in caplog.records if r.name.startswith(("web.server", "aiohttp"))]
    assert len(server) == 1, [r.getMessage() for r in server]
    assert server[0].levelno == logging.WARNING and server[0].exc_info is None
    line = server[0].getMessage()
    assert line.startswith("malformed HTTP request from 127.0.0.1: ") and "\n" not in line
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_an_smtp_only_process_serves_metrics_and_readiness_on_its_own_port(
    env: dict[str, str],
) -> None:
    port = free_port()
    settings = load_settings({**env, "POSTDESK_METRICS_PORT": str(port)}, read_dotenv=False)
    context = started(settings, "smtp")
    running = await context.__aenter__()
    try:
        assert running.smtp_port is not None
        await send(running.smtp_port, make_mail(body=BODY)[0])
        async with aiohttp.ClientSession() as http:
            api = Api(base=f"http://127.0.0.1:{port}", http=http)
            async with http.get(f"{api.base}/metrics") as r:
                assert r.status == 401
            assert await api.call("GET", "/readyz") == (200, {"status": "ready"})
            exposition = await scrape(api)
        assert value(exposition, "postdesk_mail_received_total", source="smtp") == 1
        assert "postdesk_smtp_sessions_open" in exposition
    finally:
        await bounded(context.__aexit__(None, None, None), "stopping the daemon")


async def test_postdesk_run_writes_json_lines(env: dict[str, str], tmp_path: Path) -> None:
    """The command line's own set-up: POSTDESK_LOG_FORMAT=json makes every line of a run,
    from start to `stopped`, one JSON object."""
    log = tmp_path / "daemon.log"
    json_env = {**env, "POSTDESK_LOG_FORMAT": "json", "POSTDESK_LOG_LEVEL": "INFO"}
    proc = await start_daemon(json_env, log)
    try:
        async with aiohttp.ClientSession() as http:
            api = Api(base=f"http://127.0.0.1:{env['POSTDESK_HTTP_PORT']}", http=http)
            assert (await api.call("GET", "/readyz?secret=in-a-query"))[0] == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 60) == 0
    found = [json.loads(line) for line in log.read_text().splitlines()]
    assert found[-1]["message"] == "stopped" and found[-1]["logger"] == "daemon.lifecycle"
    ready = one(found, logger="web.access", route="/readyz")
    assert ready["status"] == 200 and ready["method"] == "GET"
    assert "in-a-query" not in log.read_text()


async def test_open_websockets_are_counted(
    api: Api, live: Live, team: Team, json_log: io.StringIO
) -> None:
    ws = await live.connect("agent1", "/ws/notifications/")
    assert value(await scrape(api), "postdesk_websocket_connections") == 1
    await ws.close()

    async def closed() -> bool:
        return value(await scrape(api), "postdesk_websocket_connections") == 0

    await wait_for(closed, what="the socket no longer counted")
    one(entries(json_log), route="/ws/notifications/", status=101)
    assert team.tokens["agent1"] not in json_log.getvalue()  # it came in the query string


async def test_every_documented_metric_is_exposed(api: Api, daemon: Running) -> None:
    """The families README's table names, each served (with HELP and TYPE) before it has
    counted anything: a dashboard built from the table finds them all."""
    families = {f.name for f in text_string_to_metric_families(await scrape(api))}
    documented = {
        "postdesk_smtp_sessions_open",
        "postdesk_smtp_sessions_refused",
        "postdesk_mail_received",
        "postdesk_mail_settled",
        "postdesk_inbound_waiting",
        "postdesk_inbound_lag_seconds",
        "postdesk_outbox_sent",
        "postdesk_outbox_failed",
        "postdesk_outbox_mails",
        "postdesk_outbox_oldest_pending_seconds",
        "postdesk_webhook_deliveries",
        "postdesk_webhook_attempts_failed",
        "postdesk_websocket_connections",
        "postdesk_http_requests",
        "postdesk_http_request_duration_seconds",
        "postdesk_job_runs",
        "postdesk_job_failures",
        "postdesk_suppressed_addresses",
    }
    assert documented <= families, documented - families


async def test_a_job_run_is_counted_and_its_result_kept_below_info(
    api: Api, daemon: Running, json_log: io.StringIO
) -> None:
    assert daemon.scheduler is not None
    assert await daemon.scheduler.run("cleanup")
    exposition = await scrape(api)
    assert value(exposition, "postdesk_job_runs_total", job="cleanup") == 1
    assert value(exposition, "postdesk_job_failures_total", job="cleanup") == 0
    chatter = [e for e in entries(json_log) if e["logger"] == "daemon.scheduler"]
    assert chatter == []  # the per-run line is DEBUG; INFO shows only what an operator needs


async def test_a_lockout_and_a_failed_webhook_delivery_are_logged(
    team: Team, api: Api, json_log: io.StringIO
) -> None:
    wrong = {"email": "agent1@localhost", "password": "not-the-password-42"}
    for _ in range(5):
        assert (await api.call("POST", "/api/auth/token/", json=wrong))[0] == 401
    assert (await api.call("POST", "/api/auth/token/", json=wrong))[0] == 429
    [locked] = [e for e in entries(json_log) if "retry_after" in e]
    assert locked["level"] == "WARNING" and locked["login"] == "agent1@localhost"
    assert locked["message"].startswith("login locked out for agent1@localhost from 127.0.0.1")
    assert locked["client"] == "127.0.0.1"

    url = f"http://127.0.0.1:{free_port()}/hook?token=receiver-secret"  # nobody listens
    hook = {"url": url, "events": ["ticket.created"]}
    assert (await team.call("admin", "POST", "/api/webhooks/", json=hook))[0] == 201
    await team.open_ticket("carol", "Nobody hears this")

    async def failed() -> list[dict[str, Any]]:
        return [e for e in entries(json_log) if "delivery_id" in e]

    line = (await wait_for(failed, what="the failed delivery logged"))[0]
    assert line["level"] == "WARNING" and line["logger"] == "daemon.webhook_sender"
    assert line["url"] == url.split("?")[0] and line["status"] is None and line["error"]
    assert "receiver-secret" not in json_log.getvalue()


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /ws/tickets/1/?token=eyJSECRETSECRET.eyJpart HTTP/1.1 extra\r\nHost: x\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nAuthorization: Bearer eyJSECRETSECRET"
        + b"x" * 9000
        + b"\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nX-Api-Key: pdk_SECRETSECRET" + b"x" * 9000 + b"\r\n\r\n",
    ],
    ids=["query token", "bearer header", "api key header"],
)
async def test_malformed_requests_log_no_credentials(
    api: Api, settings: Any, json_log: io.StringIO, request_bytes: bytes
) -> None:
    """aiohttp quotes the bad line in its error; the daemon's log redacts the credential."""
    reader, writer = await asyncio.open_connection("127.0.0.1", settings.http_port)
    writer.write(request_bytes)
    await writer.drain()
    answer = await reader.read()
    writer.close()
    assert b" 400 " in answer.split(b"\r\n")[0] or b" 431 " in answer.split(b"\r\n")[0]
    [line] = [e for e in entries(json_log) if e["message"].startswith("malformed HTTP request")]
    assert "SECRETSECRET" not in json_log.getvalue()
    assert "[redacted]" in line["message"]
