"""Prometheus metrics of one process (GET /metrics, docs/design.md "Observability").

One `Metrics` is built with the Desk by the composition root and passed down; its
`CollectorRegistry` is its own (nothing is registered in prometheus_client's global
registry), so two daemons in one process (the tests) never share a counter.

Two kinds of numbers:
- what this process did (counters, and gauges of what it holds open): SMTP sessions, mail
  received, settled, sent, webhook failures, WebSockets, HTTP requests, job runs. Each
  replica counts its own; Prometheus sums them over the scraped instances.
- what the database holds (the same from every replica): the processing lag, the outbox
  and webhook backlog, suppressed addresses. Read at scrape time by `refresh`, a handful
  of indexed COUNT/MIN queries.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest
from sqlalchemy import func, select

from desk.db import Database
from desk.models import (
    DeliveryState,
    InboundMail,
    InboundState,
    OutboxMail,
    OutboxState,
    Suppression,
    WebhookDelivery,
    utcnow,
)

# Latency buckets in seconds: an API answers in milliseconds; a search or an export may
# take seconds.
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # Prometheus text format 0.0.4


@dataclass
class Metrics:
    """The process's metrics. Counters move where the work happens; `refresh` reads the
    database's backlog just before a scrape."""

    registry: CollectorRegistry = field(
        default_factory=lambda: CollectorRegistry(auto_describe=True)
    )

    def __post_init__(self) -> None:
        r = self.registry
        self.smtp_sessions_open = Gauge(
            "postdesk_smtp_sessions_open", "SMTP sessions open now", registry=r
        )
        self.smtp_sessions_refused = Counter(
            "postdesk_smtp_sessions_refused", "SMTP sessions refused (too many open)", registry=r
        )
        self.mail_received = Counter(
            "postdesk_mail_received",
            "Inbound mails stored, by source (smtp, imap, mailgun, ...)",
            ["source"],
            registry=r,
        )
        self.mail_settled = Counter(
            "postdesk_mail_settled",
            "Inbound mails settled, by outcome (processed, ignored, failed)",
            ["state"],
            registry=r,
        )
        self.outbox_sent = Counter("postdesk_outbox_sent", "Mails the relay accepted", registry=r)
        self.outbox_failed = Counter(
            "postdesk_outbox_failed", "Mails refused by the relay or not composable", registry=r
        )
        self.webhook_failures = Counter(
            "postdesk_webhook_attempts_failed", "Webhook delivery attempts that failed", registry=r
        )
        self.websockets_open = Gauge(
            "postdesk_websocket_connections", "WebSocket connections open now", registry=r
        )
        self.http_requests = Counter(
            "postdesk_http_requests",
            "HTTP requests answered, by route pattern, method and status",
            ["route", "method", "status"],
            registry=r,
        )
        self.http_seconds = Histogram(
            "postdesk_http_request_duration_seconds",
            "Time to answer an HTTP request, by route pattern and method",
            ["route", "method"],
            buckets=HTTP_BUCKETS,
            registry=r,
        )
        self.job_runs = Counter("postdesk_job_runs", "Scheduled job runs", ["job"], registry=r)
        self.job_failures = Counter(
            "postdesk_job_failures", "Scheduled job runs that failed", ["job"], registry=r
        )
        self._backlog(r)

    def _backlog(self, r: CollectorRegistry) -> None:
        """The gauges `refresh` sets from the database."""
        self.processing_lag = Gauge(
            "postdesk_inbound_lag_seconds",
            "Age of the oldest stored mail not yet processed (0: none waiting)",
            registry=r,
        )
        self.inbound_waiting = Gauge(
            "postdesk_inbound_waiting", "Stored mails not yet processed", registry=r
        )
        self.outbox = Gauge(
            "postdesk_outbox_mails",
            "Outbox mails by state (from the database)",
            ["state"],
            registry=r,
        )
        self.outbox_oldest = Gauge(
            "postdesk_outbox_oldest_pending_seconds",
            "Age of the oldest outbox mail waiting to be sent (0: none)",
            registry=r,
        )
        self.webhooks = Gauge(
            "postdesk_webhook_deliveries",
            "Webhook deliveries pending or failed (from the database)",
            ["state"],
            registry=r,
        )
        self.suppressed = Gauge(
            "postdesk_suppressed_addresses", "Addresses automatic mail is not sent to", registry=r
        )

    async def refresh(self, db: Database) -> None:
        """Set the database gauges: one read transaction, each query on an index."""
        now = utcnow()
        async with db.reader() as session:
            waiting = InboundMail.state == InboundState.RECEIVED.value
            count, oldest = (
                await session.execute(
                    select(func.count(), func.min(InboundMail.received_at)).where(waiting)
                )
            ).one()
            by_state = dict(
                (
                    await session.execute(
                        select(OutboxMail.state, func.count()).group_by(OutboxMail.state)
                    )
                ).all()
            )
            oldest_out = await session.scalar(
                select(func.min(OutboxMail.created_at)).where(
                    OutboxMail.state.in_((OutboxState.PENDING.value, OutboxState.SENDING.value))
                )
            )
            deliveries = dict(
                (
                    await session.execute(
                        select(WebhookDelivery.state, func.count())
                        .where(WebhookDelivery.state != DeliveryState.DELIVERED.value)
                        .group_by(WebhookDelivery.state)
                    )
                ).all()
            )
            suppressed = await session.scalar(select(func.count()).select_from(Suppression))
        self.inbound_waiting.set(count)
        self.processing_lag.set(_age(now, oldest))
        for state in OutboxState:
            self.outbox.labels(state.value).set(by_state.get(state.value, 0))
        self.outbox_oldest.set(_age(now, oldest_out))
        for kind in (DeliveryState.PENDING, DeliveryState.FAILED):
            self.webhooks.labels(kind.value).set(deliveries.get(kind.value, 0))
        self.suppressed.set(suppressed or 0)

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format (CONTENT_TYPE)."""
        return generate_latest(self.registry)


def _age(now: datetime, then: datetime | None) -> float:
    return max(0.0, (now - then).total_seconds()) if then is not None else 0.0


def scrape_allowed(token: str | None, authorization: str) -> bool | None:
    """May this request read the metrics? None: they are not served at all (no
    POSTDESK_METRICS_TOKEN: /metrics stays off the internet by default); False: the
    `Authorization: Bearer <token>` header is missing or wrong; True: it matches."""
    if not token:
        return None
    scheme, _, given = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())
