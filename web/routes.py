"""The one route table (paths fixed by API.md)."""

from aiohttp import web

from web.handlers import admin, auth, health, tickets


def add_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", health.healthz)
    app.router.add_post("/api/auth/token/", auth.obtain_token)
    app.router.add_post("/api/auth/token/refresh/", auth.refresh_token)
    app.router.add_post("/api/auth/logout/", auth.logout)
    app.router.add_get("/api/me/", auth.me)
    app.router.add_get("/api/me/availability/", auth.availability)
    app.router.add_post("/api/me/availability/", auth.availability)
    app.router.add_get("/api/admin/api-keys/", admin.api_keys_list)
    app.router.add_post("/api/admin/api-keys/", admin.api_keys_create)
    app.router.add_delete(r"/api/admin/api-keys/{id}/", admin.api_keys_revoke)
    app.router.add_get("/api/tickets/", tickets.ticket_list)
    app.router.add_get(r"/api/tickets/{id}/", tickets.ticket_get)
    app.router.add_post(r"/api/tickets/{id}/messages/", tickets.message_create)
