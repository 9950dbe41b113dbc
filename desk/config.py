"""Settings are read once from the environment (and ./.env) into a frozen object passed down."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import TypedDict
from urllib.parse import urlsplit

from dotenv import dotenv_values

from desk.database_url import database_url_setting
from desk.errors import ConfigError
from desk.mail.headers import is_plain_address

HIDDEN = "**********"
# Where Google publishes the keys that sign its ID tokens (OpenID discovery's jwks_uri).
GOOGLE_JWKS_URL = "https://www.googleapis.com/oauth2/v3/certs"
# Field metadata for the repr: a secret is never shown; a URL is shown without its password.
SECRET = {"hide": "all"}
URL = {"hide": "password"}


@dataclass(frozen=True, kw_only=True, repr=False)
class Settings:
    data_dir: Path
    database_url: str = field(metadata=URL)
    redis_url: str | None = field(metadata=URL)
    smtp_host: str
    smtp_port: int
    http_host: str
    http_port: int
    support_address: str  # the first of support_addresses: the default From
    relay_url: str | None = field(metadata=URL)
    secret_key: str = field(metadata=SECRET)
    archive_after_hours: int
    max_message_bytes: int
    parse_cpu_seconds: float
    max_mime_parts: int
    auto_reply_per_hour: int
    upload_max_bytes: int
    ticket_prefix: str
    access_token_minutes: int
    session_idle_minutes: int
    desk_name: str
    mailgun_signing_key: str | None = field(default=None, metadata=SECRET)
    imap_urls: tuple[str, ...] = field(default=(), metadata=URL)
    imap_processed_folder: str = "Processed"
    imap_poll_seconds: float = 30.0
    webhook_allow_private: bool = False
    # Days a bounced address stays suppressed for automatic mail; 0: until an admin lifts it.
    suppression_days: int = 30
    job_interval_seconds: float = 60.0
    gemini_api_key: str | None = field(default=None, metadata=SECRET)
    gemini_model: str = "gemini-2.5-flash"
    gemini_base_url: str | None = None
    gemini_timeout_seconds: float = 30.0
    cors_origins: tuple[str, ...] = ()
    # Proxies (CIDRs) whose X-Forwarded-For / Forwarded name the client (web.client).
    trusted_proxies: tuple[IPv4Network | IPv6Network, ...] = ()
    google_client_id: str | None = None
    google_jwks_url: str = GOOGLE_JWKS_URL
    # Every address customers write to, the default first (POSTDESK_SUPPORT_ADDRESS may list
    # several, comma-separated); a ticket answers from the one its first mail was sent to.
    support_addresses: tuple[str, ...] = ()
    smtp_max_sessions: int = 100
    smtp_sessions_per_client: int = 20
    smtp_idle_seconds: float = 300.0
    smtp_session_seconds: float = 1800.0
    smtp_data_seconds: float = 600.0
    smtp_memory_bytes: int = 1024 * 1024
    shutdown_seconds: float = 20.0
    http_header_seconds: float = 15.0
    http_max_connections: int = 1000
    raw_mail_retention_days: int | None = None
    # GET /metrics answers only a bearer of this token; unset: /metrics is not served (404).
    metrics_token: str | None = field(default=None, metadata=SECRET)
    metrics_port: int | None = None  # roles without the web server: serve /metrics here
    log_format: str = "text"  # text | json (one object per line)
    log_level: str = "INFO"
    # Where people reach the desk's pages, for links in mail (invitations, password resets).
    # Never taken from a request's Host header: a forged one would mail a reset link that
    # leads to another site.
    public_url: str = ""
    accent_colour: str = "#2563eb"  # the brand colour of pages and HTML mail, #rrggbb
    # The POSTDESK_* names the environment set: a run-time setting (desk/desk_settings.py)
    # set there is locked, the database cannot change it.
    from_environment: frozenset[str] = frozenset()

    def __repr__(self) -> str:
        """Every setting, as logs and tracebacks may show it: secrets hidden, URLs without
        their passwords (as Starlette's Secret and DatabaseURL do)."""
        shown = ", ".join(
            f"{f.name}={_shown(getattr(self, f.name), f.metadata)!r}" for f in fields(self)
        )
        return f"Settings({shown})"

    @property
    def support_domain(self) -> str:
        return self.support_address.rpartition("@")[2].lower()

    @property
    def accepted_domains(self) -> frozenset[str]:
        return frozenset({self.support_domain}) | {
            a.rpartition("@")[2] for a in self.support_addresses
        }

    def is_own_address(self, address: str) -> bool:
        """Whether mail to `address` comes back to this desk: every address at a domain it
        accepts (support addresses, their `+token` reply addresses, anything else there)."""
        return address.strip().lower().rpartition("@")[2] in self.accepted_domains

    def support_address_for(self, address: str) -> str | None:
        """The support address that `address` is, or is a `+tag` form of; None if neither."""
        local, _, domain = address.strip().lower().partition("@")
        base = f"{local.partition('+')[0]}@{domain}"
        return base if base in self.support_addresses else None

    @property
    def smtp_size_limit(self) -> int:
        """The SMTP SIZE we accept. The setting counts content as mail clients report it;
        base64 adds a third plus line breaks, so a 20 MB attachment under a 25 MB limit is
        not refused for its encoding."""
        return int(self.max_message_bytes * 1.4) + 1024 * 1024

    @property
    def is_embedded(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def attachments_dir(self) -> Path:
        return self.data_dir / "attachments"

    @property
    def spool_dir(self) -> Path:
        """Where the SMTP listener spools large messages while they arrive."""
        return self.data_dir / "spool"


def load_settings(
    environ: Mapping[str, str] | None = None, *, read_dotenv: bool = True
) -> Settings:
    """Build settings from `environ` (default: os.environ over ./.env); fail loud on bad values."""
    env = _environment(environ, read_dotenv)
    data_dir = Path(env.get("POSTDESK_DATA_DIR", "./postdesk-data")).resolve()
    database_url = database_url_setting(
        env.get("POSTDESK_DATABASE_URL") or f"sqlite+aiosqlite:///{data_dir / 'postdesk.db'}"
    )
    support = _support_addresses(env)
    relay = _relay_url(env)
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        **_listeners(env),
        support_address=support[0],
        support_addresses=support,
        relay_url=relay,
        secret_key=_secret_key(env, data_dir, database_url),
        **_limits(env),
        **_naming(env),
        **_inbound(env),
        webhook_allow_private=_bool(env, "POSTDESK_WEBHOOK_ALLOW_PRIVATE"),
        job_interval_seconds=_float(env, "POSTDESK_JOB_INTERVAL_SECONDS", 60.0),
        suppression_days=_int(env, "POSTDESK_SUPPRESSION_DAYS", 30),
        **_gemini(env),
        **_browser(env),
        **_http_and_retention(env),
        **_operations(env),
        **_observability(env),
        **_brand(env),
    )


def _environment(environ: Mapping[str, str] | None, read_dotenv: bool) -> dict[str, str]:
    """`environ` (default: os.environ) over the values in ./.env, if it is to be read."""
    env: dict[str, str] = {}
    if read_dotenv and Path(".env").is_file():
        env.update({k: v for k, v in dotenv_values(".env").items() if v is not None})
    env.update(os.environ if environ is None else environ)
    return env


def _support_addresses(env: Mapping[str, str]) -> tuple[str, ...]:
    """One address, or several comma-separated (the first is the default), lower-cased and
    without repeats. A `+` in one would be read as a reply token, so it is refused."""
    raw = env.get("POSTDESK_SUPPORT_ADDRESS", "") or "support@localhost"
    found: list[str] = []
    for entry in raw.split(","):
        address = entry.strip().lower()
        if not is_plain_address(address) or "+" in address:
            raise ConfigError("POSTDESK_SUPPORT_ADDRESS", f"not a plain address: {address!r}")
        if address not in found:
            found.append(address)
    return tuple(found)


def _relay_url(env: Mapping[str, str]) -> str | None:
    relay = env.get("POSTDESK_RELAY_URL") or None
    if relay and urlsplit(relay).scheme not in ("smtp", "smtps"):
        raise ConfigError("POSTDESK_RELAY_URL", "must start with smtp:// or smtps://")
    return relay


class _Listeners(TypedDict):
    redis_url: str | None
    smtp_host: str
    smtp_port: int
    http_host: str
    http_port: int


def _listeners(env: Mapping[str, str]) -> _Listeners:
    """Where the daemon listens, and the Redis it talks to."""
    return _Listeners(
        redis_url=env.get("POSTDESK_REDIS_URL") or None,
        smtp_host=env.get("POSTDESK_SMTP_HOST", "127.0.0.1"),
        smtp_port=_int(env, "POSTDESK_SMTP_PORT", 2525),
        http_host=env.get("POSTDESK_HTTP_HOST", "127.0.0.1"),
        http_port=_int(env, "POSTDESK_HTTP_PORT", 8080),
    )


class _Limits(TypedDict):
    archive_after_hours: int
    max_message_bytes: int
    parse_cpu_seconds: float
    max_mime_parts: int
    auto_reply_per_hour: int
    upload_max_bytes: int
    access_token_minutes: int
    session_idle_minutes: int


def _limits(env: Mapping[str, str]) -> _Limits:
    """Sizes, rates and lifetimes."""
    return _Limits(
        archive_after_hours=_int(env, "POSTDESK_ARCHIVE_AFTER_HOURS", 24),
        max_message_bytes=_int(env, "POSTDESK_MAX_MESSAGE_BYTES", 25 * 1024 * 1024),
        parse_cpu_seconds=_float(env, "POSTDESK_PARSE_CPU_SECONDS", 10.0),
        # Over it a mail is not parsed: it becomes a ticket with the raw message attached.
        max_mime_parts=_int(env, "POSTDESK_MAX_MIME_PARTS", 1000),
        auto_reply_per_hour=_int(env, "POSTDESK_AUTO_REPLY_PER_HOUR", 10),
        upload_max_bytes=_int(env, "POSTDESK_UPLOAD_MAX_BYTES", 10 * 1024 * 1024),
        access_token_minutes=_int(env, "POSTDESK_ACCESS_TOKEN_MINUTES", 15),
        # A browser left this long without a page request is signed out (desk.auth.browser).
        session_idle_minutes=int(_positive(env, "POSTDESK_SESSION_IDLE_MINUTES", 480)),
    )


class _Naming(TypedDict):
    ticket_prefix: str
    desk_name: str


def _naming(env: Mapping[str, str]) -> _Naming:
    """How the desk and its tickets are named in mail."""
    return _Naming(
        ticket_prefix=env.get("POSTDESK_TICKET_PREFIX", "").strip(),
        desk_name=env.get("POSTDESK_DESK_NAME", "Support").strip() or "Support",
    )


class _Inbound(TypedDict):
    mailgun_signing_key: str | None
    imap_urls: tuple[str, ...]
    imap_processed_folder: str
    imap_poll_seconds: float


def _inbound(env: Mapping[str, str]) -> _Inbound:
    """Mail that arrives other than by SMTP: Mailgun's webhook and IMAP mailboxes."""
    return _Inbound(
        mailgun_signing_key=env.get("POSTDESK_MAILGUN_SIGNING_KEY") or None,
        imap_urls=_imap_urls(env.get("POSTDESK_IMAP_URLS", "")),
        imap_processed_folder=env.get("POSTDESK_IMAP_PROCESSED_FOLDER", "").strip() or "Processed",
        imap_poll_seconds=_float(env, "POSTDESK_IMAP_POLL_SECONDS", 30.0),
    )


class _Gemini(TypedDict):
    gemini_api_key: str | None
    gemini_model: str
    gemini_base_url: str | None
    gemini_timeout_seconds: float


def _gemini(env: Mapping[str, str]) -> _Gemini:
    return _Gemini(
        gemini_api_key=env.get("POSTDESK_GEMINI_API_KEY") or None,
        gemini_model=env.get("POSTDESK_GEMINI_MODEL", "").strip() or "gemini-2.5-flash",
        gemini_base_url=env.get("POSTDESK_GEMINI_BASE_URL", "").strip() or None,
        gemini_timeout_seconds=_float(env, "POSTDESK_GEMINI_TIMEOUT_SECONDS", 30.0),
    )


class _Browser(TypedDict):
    cors_origins: tuple[str, ...]
    trusted_proxies: tuple[IPv4Network | IPv6Network, ...]
    google_client_id: str | None
    google_jwks_url: str


def _browser(env: Mapping[str, str]) -> _Browser:
    """Front ends served from other origins (CORS), and signing in with Google."""
    jwks = env.get("POSTDESK_GOOGLE_JWKS_URL", "").strip() or GOOGLE_JWKS_URL
    if urlsplit(jwks).scheme not in ("https", "http") or not urlsplit(jwks).hostname:
        raise ConfigError("POSTDESK_GOOGLE_JWKS_URL", "must be an http(s):// URL")
    return _Browser(
        cors_origins=_origins(env.get("POSTDESK_CORS_ORIGINS", "")),
        trusted_proxies=_networks(env.get("POSTDESK_TRUSTED_PROXIES", "")),
        google_client_id=env.get("POSTDESK_GOOGLE_CLIENT_ID", "").strip() or None,
        google_jwks_url=jwks,
    )


def _origins(raw: str) -> tuple[str, ...]:
    """`scheme://host[:port]` each, as browsers send them in `Origin` (no path, no slash)."""
    origins = tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
    for origin in origins:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path:
            raise ConfigError(
                "POSTDESK_CORS_ORIGINS", f"each entry is scheme://host[:port], not {origin!r}"
            )
    return tuple(o.lower() for o in origins)


class _Brand(TypedDict):
    public_url: str
    accent_colour: str
    from_environment: frozenset[str]


COLOUR = re.compile(r"#[0-9a-fA-F]{6}")


def _brand(env: Mapping[str, str]) -> _Brand:
    """How the desk looks and where it is reached (links in mail)."""
    port = env.get("POSTDESK_HTTP_PORT", "8080")
    default_url = f"http://{env.get('POSTDESK_HTTP_HOST', '127.0.0.1')}:{port}"
    public = env.get("POSTDESK_PUBLIC_URL", "").strip().rstrip("/") or default_url
    parts = urlsplit(public)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        raise ConfigError("POSTDESK_PUBLIC_URL", "must be an http(s):// URL without a query")
    colour = env.get("POSTDESK_ACCENT_COLOUR", "").strip() or "#2563eb"
    if not COLOUR.fullmatch(colour):
        raise ConfigError("POSTDESK_ACCENT_COLOUR", "must be a colour as #rrggbb")
    return _Brand(
        public_url=public,
        accent_colour=colour.lower(),
        from_environment=frozenset(k for k, v in env.items() if k.startswith("POSTDESK_") and v),
    )


def _networks(raw: str) -> tuple[IPv4Network | IPv6Network, ...]:
    """Comma-separated CIDRs (a bare address is a /32 or /128)."""
    try:
        return tuple(ip_network(n.strip(), strict=False) for n in raw.split(",") if n.strip())
    except ValueError as exc:
        raise ConfigError("POSTDESK_TRUSTED_PROXIES", f"each entry is a CIDR: {exc}") from None


class _Operations(TypedDict):
    smtp_max_sessions: int
    smtp_sessions_per_client: int
    smtp_idle_seconds: float
    smtp_session_seconds: float
    smtp_data_seconds: float
    smtp_memory_bytes: int
    shutdown_seconds: float


def _operations(env: Mapping[str, str]) -> _Operations:
    """What protects the SMTP listener, and how long stopping may take."""
    return _Operations(
        smtp_max_sessions=_int(env, "POSTDESK_SMTP_MAX_SESSIONS", 100),
        smtp_sessions_per_client=_int(env, "POSTDESK_SMTP_SESSIONS_PER_CLIENT", 20),
        smtp_idle_seconds=_positive(env, "POSTDESK_SMTP_IDLE_SECONDS", 300.0),
        smtp_session_seconds=_positive(env, "POSTDESK_SMTP_SESSION_SECONDS", 1800.0),
        smtp_data_seconds=_positive(env, "POSTDESK_SMTP_DATA_SECONDS", 600.0),
        smtp_memory_bytes=_int(env, "POSTDESK_SMTP_MEMORY_BYTES", 1024 * 1024),
        shutdown_seconds=_positive(env, "POSTDESK_SHUTDOWN_SECONDS", 20.0),
    )


class _HttpAndRetention(TypedDict):
    http_header_seconds: float
    http_max_connections: int
    raw_mail_retention_days: int | None


def _http_and_retention(env: Mapping[str, str]) -> _HttpAndRetention:
    """What keeps one process healthy under slow or many clients, and how long raw mail is
    kept (unset: as long as the ticket)."""
    retention = env.get("POSTDESK_RAW_MAIL_RETENTION_DAYS", "").strip()
    header_seconds = _float(env, "POSTDESK_HTTP_HEADER_SECONDS", 15.0)
    if not header_seconds > 0:
        raise ConfigError("POSTDESK_HTTP_HEADER_SECONDS", "must be more than 0")
    connections = _int(env, "POSTDESK_HTTP_MAX_CONNECTIONS", 1000)
    if connections < 1:
        raise ConfigError("POSTDESK_HTTP_MAX_CONNECTIONS", "must be at least 1")
    return _HttpAndRetention(
        http_header_seconds=header_seconds,
        http_max_connections=connections,
        raw_mail_retention_days=(
            _int(env, "POSTDESK_RAW_MAIL_RETENTION_DAYS", 0) if retention else None
        ),
    )


LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class _Observability(TypedDict):
    metrics_token: str | None
    metrics_port: int | None
    log_format: str
    log_level: str


def _observability(env: Mapping[str, str]) -> _Observability:
    """Who may read /metrics (and where roles without the web serve it); what logs look like."""
    log_format = env.get("POSTDESK_LOG_FORMAT", "").strip().lower() or "text"
    if log_format not in LOG_FORMATS:
        raise ConfigError("POSTDESK_LOG_FORMAT", f"must be one of {', '.join(LOG_FORMATS)}")
    log_level = env.get("POSTDESK_LOG_LEVEL", "").strip().upper() or "INFO"
    if log_level not in LOG_LEVELS:
        raise ConfigError("POSTDESK_LOG_LEVEL", f"must be one of {', '.join(LOG_LEVELS)}")
    port = _int(env, "POSTDESK_METRICS_PORT", 0)
    return _Observability(
        metrics_token=env.get("POSTDESK_METRICS_TOKEN") or None,
        metrics_port=port or None,
        log_format=log_format,
        log_level=log_level,
    )


def _shown(value: object, metadata: Mapping[str, str]) -> object:
    hide = metadata.get("hide")
    if value is None or value == "" or hide is None:
        return value
    if isinstance(value, tuple):
        return tuple(_shown(v, metadata) for v in value)
    return HIDDEN if hide == "all" else _without_password(str(value))


def _without_password(url: str) -> str:
    """`scheme://user:********@host/...`; a URL without a password is shown as it is."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return parts._replace(netloc=f"{user}:{HIDDEN}@{host}").geturl()


def _imap_urls(raw: str) -> tuple[str, ...]:
    urls = tuple(u.strip() for u in raw.split(",") if u.strip())
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("imap", "imaps") or not parts.hostname or not parts.username:
            raise ConfigError(
                "POSTDESK_IMAP_URLS", "each entry is imap(s)://user:pass@host/MAILBOX"
            )
    return urls


def _bool(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(name, f"expected true or false, got {raw!r}")


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(name, f"expected an integer, got {raw!r}") from None
    if value < 0:
        raise ConfigError(name, "must not be negative")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(name, f"expected a number, got {raw!r}") from None


def _positive(env: Mapping[str, str], name: str, default: float) -> float:
    value = _float(env, name, default)
    if value <= 0:
        raise ConfigError(name, "must be more than 0")
    return value


def _secret_key(env: Mapping[str, str], data_dir: Path, database_url: str) -> str:
    """On the embedded default a key is generated once into DATA_DIR; elsewhere it must be set,
    because several replicas must share it and a key in a container's disk would be lost."""
    key = env.get("POSTDESK_SECRET_KEY")
    if key:
        if len(key) < 32:
            raise ConfigError("POSTDESK_SECRET_KEY", "must be at least 32 characters")
        return key
    if not database_url.startswith("sqlite"):
        raise ConfigError("POSTDESK_SECRET_KEY", "required when not on the embedded SQLite default")
    path = data_dir / "secret_key"
    try:
        if path.is_file():
            return path.read_text().strip()
        data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(key)
    except OSError as exc:  # the first thing to write there: say which folder, and why
        raise ConfigError(
            "POSTDESK_DATA_DIR", f"the data folder {data_dir} cannot be written: {exc.strerror}"
        ) from None
    return key
