"""Cross-origin calls from browser front ends served from another origin (the seeds' React
apps on a Vite dev server, `VITE_API_BASE_URL`): the Fetch standard's CORS protocol for the
origins in POSTDESK_CORS_ORIGINS, and nothing at all for the others.

Written here rather than with aiohttp-cors (aio-libs, 0.8): that library needs every route
wrapped one by one, sends no `Vary: Origin` (a shared cache could hand one origin's answer
to another), has no type hints, and answers a refused preflight with a text body instead of
our error shape. What is needed is small: echo an allowed origin, answer preflights.

Credentials are allowed (the seeds send `Authorization: Bearer`, which makes every call a
"credentialed" one for the browser), so the origin is echoed, never `*`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import hdrs, web

from web.errors import error_response

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
# What the seeds' clients send (axios/fetch with JSON and a bearer token), and the headers
# of our own answers a script may read (Retry-After on 429, file names of downloads).
ALLOWED_HEADERS = frozenset(
    {"authorization", "content-type", "accept", "accept-language", "x-requested-with"}
)
EXPOSED_HEADERS = "Retry-After, WWW-Authenticate, Content-Disposition"
MAX_AGE_SECONDS = 600  # how long a browser may reuse a preflight's answer
VARY = "Origin"


class Cors:
    """The allowed origins (lower-case `scheme://host[:port]`), built by create_app."""

    def __init__(self, origins: tuple[str, ...]) -> None:
        self.origins = frozenset(origins)

    def allowed(self, request: web.Request) -> str | None:
        """The request's Origin if it may read our answers, else None."""
        origin = request.headers.get(hdrs.ORIGIN, "")
        return origin if origin.lower() in self.origins else None

    @web.middleware
    async def preflight(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Answer `OPTIONS` with `Access-Control-Request-Method` before routing would refuse
        it (405): 204 with what the origin may send; a refused origin gets 403 without any
        CORS header, so the browser blocks the call."""
        if not _is_preflight(request):
            return await handler(request)
        wanted = request.headers[hdrs.ACCESS_CONTROL_REQUEST_METHOD]
        origin = self.allowed(request)
        asked = _header_names(request.headers.get(hdrs.ACCESS_CONTROL_REQUEST_HEADERS, ""))
        if origin is None or wanted.upper() not in METHODS or not asked <= ALLOWED_HEADERS:
            return error_response(
                403, "forbidden", "this origin, method or header may not call the API"
            )
        response = web.Response(status=204)
        response.headers.update(
            {
                hdrs.ACCESS_CONTROL_ALLOW_METHODS: ", ".join(METHODS),
                hdrs.ACCESS_CONTROL_ALLOW_HEADERS: ", ".join(sorted(ALLOWED_HEADERS)),
                hdrs.ACCESS_CONTROL_MAX_AGE: str(MAX_AGE_SECONDS),
            }
        )
        return response

    async def on_prepare(self, request: web.Request, response: web.StreamResponse) -> None:
        """Every answer, errors included, just before its headers go out."""
        _add_vary(response)
        origin = self.allowed(request)
        refused = _is_preflight(request) and response.status != 204
        if origin is None or refused:
            return
        response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = origin
        response.headers[hdrs.ACCESS_CONTROL_ALLOW_CREDENTIALS] = "true"
        if request.method != hdrs.METH_OPTIONS:
            response.headers[hdrs.ACCESS_CONTROL_EXPOSE_HEADERS] = EXPOSED_HEADERS


def _is_preflight(request: web.Request) -> bool:
    return (
        request.method == hdrs.METH_OPTIONS
        and hdrs.ACCESS_CONTROL_REQUEST_METHOD in request.headers
    )


def _header_names(raw: str) -> frozenset[str]:
    return frozenset(h.strip().lower() for h in raw.split(",") if h.strip())


def _add_vary(response: web.StreamResponse) -> None:
    """The answer depends on Origin: caches must key on it (Fetch standard, CORS protocol
    and HTTP caches)."""
    present = [v.strip().lower() for v in response.headers.get(hdrs.VARY, "").split(",")]
    if VARY.lower() not in present and "*" not in present:
        response.headers.add(hdrs.VARY, VARY)
