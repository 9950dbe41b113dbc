"""Console forms a plain client can drive (as the browser posts them): a customer made
their company's admin on People, a webhook created on Integrations (its secret shown once,
the API's refusals in words), an accent colour that is not one refused, company domains
normalised and checked, on the page as in the API."""

from __future__ import annotations

import re
from typing import Any

import aiohttp

from tests.people import Team
from tests.test_pages_signin import _client, _signed_in


async def _post(http: aiohttp.ClientSession, url: str, form: dict[str, Any]) -> tuple[int, str]:
    async with http.post(url, data=form) as r:
        return r.status, await r.text()


async def test_a_customer_is_made_their_company_s_admin_on_people(team: Team):
    body = {"name": "Example", "domains": ["example.com"]}
    assert (await team.call("admin", "POST", "/api/admin/companies/", json=body))[0] == 201
    base, carol = team.api.base, team.id("carol")
    async with _client() as http:
        token = await _signed_in(http, base, "admin@localhost")
        async with http.get(f"{base}/app/admin/people") as r:
            people = await r.text()
        row = re.search(r"carol@example\.com</span>(.*?)</td>", people, re.S)
        assert row and "Example" in row.group(1) and "company admin" not in row.group(1)
        assert f'action="/app/admin/people/{carol}/company-admin"' in people
        assert f'action="/app/admin/people/{team.id("agent1")}/company-admin"' not in people
        form = {"csrf_token": token, "is_company_admin": "on"}
        status, page = await _post(http, f"{base}/app/admin/people/{carol}/company-admin", form)
        assert status == 200 and "now their company" in page
        assert "Example · company admin" in page
    _, user = await team.call("admin", "GET", f"/api/admin/users/{carol}/")
    assert user["is_company_admin"] is True
    async with _client() as http:
        token = await _signed_in(http, base, "admin@localhost")
        form = {"csrf_token": token}
        status, page = await _post(http, f"{base}/app/admin/people/{carol}/company-admin", form)
        assert status == 200 and "no longer their company" in page
    _, user = await team.call("admin", "GET", f"/api/admin/users/{carol}/")
    assert user["is_company_admin"] is False


async def test_a_webhook_is_created_on_integrations_with_its_secret_shown_once(team: Team):
    base = team.api.base
    url = f"{base}/app/admin/integrations/webhooks"
    async with _client() as http:
        token = await _signed_in(http, base, "admin@localhost")
        refused = {"csrf_token": token, "url": "ftp://example.org/hook", "events": "ticket.*"}
        status, page = await _post(http, url, refused)
        assert status == 400
        assert "The URL must be http:// or https:// with a host." in page
        assert 'value="ftp://example.org/hook"' in page  # what was typed is kept
        no_events = {"csrf_token": token, "url": "http://127.0.0.1:9/hook"}
        status, page = await _post(http, url, no_events)
        assert status == 400 and "Name at least one event type." in page
        good = aiohttp.FormData(
            [("csrf_token", token), ("url", "http://127.0.0.1:9/hook"), ("events", "ticket.*")]
        )
        good.add_field("events", "message.created")
        async with http.post(url, data=good) as r:
            page = await r.text()
        assert r.status == 200, page
        secret = re.search(r'id="new-secret" type="text" readonly value="([^"]+)"', page)
        assert secret and secret.group(1).startswith("whsec_")
        async with http.get(f"{base}/app/admin/integrations") as r:
            again = await r.text()
        assert "http://127.0.0.1:9/hook" in again and secret.group(1) not in again
    _, hooks = await team.call("admin", "GET", "/api/webhooks/")
    [hook] = hooks["results"]
    assert hook["url"] == "http://127.0.0.1:9/hook"
    assert hook["events"] == ["message.created", "ticket.*"]


async def test_an_accent_colour_that_is_not_one_is_refused_in_words(team: Team):
    base = team.api.base
    async with _client() as http:
        token = await _signed_in(http, base, "admin@localhost")
        form = {"csrf_token": token, "accent_colour": "red;}body{display:none}"}
        status, page = await _post(http, f"{base}/app/admin/settings", form)
    assert status == 400
    assert "Accent colour must be a colour as #rrggbb." in page
    _, settings = await team.call("admin", "GET", "/api/admin/settings/")
    assert settings["accent_colour"] == "#2563eb"
    async with _client() as http:
        async with http.get(f"{base}/brand.css") as r:
            assert "display" not in await r.text()


async def test_company_domains_are_normalised_and_checked(team: Team):
    base = team.api.base
    url = f"{base}/app/admin/people/companies"
    async with _client() as http:
        token = await _signed_in(http, base, "admin@localhost")
        typed = {
            "csrf_token": token,
            "name": "Acme",
            "domains": "acme.test, ACME.test , evil.test.",
        }
        status, _ = await _post(http, url, typed)
        assert status == 200
        bad = {"csrf_token": token, "name": "Bad", "domains": "no_such..domain"}
        status, page = await _post(http, url, bad)
        assert status == 400 and "“no_such..domain” is not a domain name" in page
    _, companies = await team.call("admin", "GET", "/api/admin/companies/")
    assert [(c["name"], c["domains"]) for c in companies["results"]] == [
        ("Acme", ["acme.test", "evil.test"])
    ]
    for wrong in (["localhost"], ["-acme.test"], ["acme.test.."], ["a b.test"]):
        body = {"name": "Wrong", "domains": wrong}
        status, answer = await team.call("admin", "POST", "/api/admin/companies/", json=body)
        assert status == 400 and answer["details"]["field"] == "domains", (wrong, answer)
    body = {"name": "Dotted", "domains": ["@Dotted.Example."]}
    status, made = await team.call("admin", "POST", "/api/admin/companies/", json=body)
    assert status == 201 and made["domains"] == ["dotted.example"]
