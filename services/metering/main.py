"""Metering's entry point: `python -m services.metering.main`.

Consumes gateway tenants, price books, credits, budgets, webhooks, finalize and void requests, scheduler
allocation releases and ingest usage (in batches); keeps raw events, minute / hour / day rollups and
invoices; retries usage waiting for its tenant; emits invoice snapshots and the billing events, and
delivers them to webhooks. Serves the internal API the gateway reads (usage, budgets, webhooks, exports,
chargeback) on http_host:http_port (default 127.0.0.1:8002), to the gateway only (its calls signed with
AIFACTORY_METERING_API_KEY, which metering requires to start); when that port is taken the API is down
(logged) but metering keeps billing.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.metering.billing_events_consumers import billing_event_consumers
from services.metering.budgets.adapters.http import budgets_router
from services.metering.chargeback.adapters.http import chargeback_router
from services.metering.consumers import USAGE_DURABLE, metering_consumers, usage_consumers
from services.metering.exports.adapters.http import exports_router
from services.metering.invoicing.adapters.publisher import InvoicePublisher
from services.metering.platform.http import create_http_app
from services.metering.settings import MeteringSettings, ServiceKeyRefused
from services.metering.usage.adapters.http import usage_router
from services.metering.usage.adapters.reader import PostgresUsageReader
from services.metering.usage.adapters.retrier import retry_waiting_usage_forever
from services.metering.webhooks.adapters.dispatcher import serve_webhooks
from services.metering.webhooks.adapters.http import webhooks_router
from shared.clock import Clock
from shared.http.server import HttpServer
from shared.service import ServiceHost, run_service

SERVICE = "metering"
SCHEMA = "metering"
MIGRATIONS = Path(__file__).parent / "migrations"


class MeteringService(ServiceHost):
    """The metering ServiceHost, with its HTTP server at hand (tests read the port it listens on)."""

    http: HttpServer


def create_service(settings: MeteringSettings, *, clock: Clock | None = None) -> MeteringService:
    service_key = settings.service_key()  # ServiceKeyRefused: missing, short or a placeholder
    host = MeteringService(SERVICE, settings, schema=SCHEMA, migrations=MIGRATIONS, clock=clock)
    limits = settings.usage_limits
    host.add_consumers(
        lambda: metering_consumers(host.clock, settings.max_deliveries, limits, settings.webhook_limits)
    )
    host.add_consumers(
        lambda: usage_consumers(
            host.clock,
            settings.max_deliveries,
            limits,
            batch_size=settings.usage_batch_size,
            copies=settings.usage_consumers,
        )
    )

    async def retry_waiting_usage() -> None:
        await retry_waiting_usage_forever(
            host.db,
            host.clock,
            USAGE_DURABLE,
            limits,
            settings.usage_max_wait_s,
            settings.usage_retry_s,
            settings.usage_batch_size,
        )

    host.add_background(retry_waiting_usage)

    async def publish_invoices() -> None:
        await InvoicePublisher(host.db, host.clock, settings.invoice_publish_interval_s).run()

    host.add_background(publish_invoices)
    host.add_consumers(lambda: billing_event_consumers(host.clock, settings.max_deliveries))

    async def dispatch_webhooks() -> None:
        policy = settings.webhook_retry_policy
        await serve_webhooks(
            host.db,
            host.clock,
            policy,
            timeout_s=settings.webhook_timeout_s,
            poll_s=settings.webhook_poll_s,
            allow_internal=settings.webhook_allow_internal,
            limits=settings.webhook_limits,
        )

    host.add_background(dispatch_webhooks)

    def build_http_app() -> FastAPI:
        return create_http_app(
            usage_router(PostgresUsageReader(host.db)),
            budgets_router(host.db, host.clock),
            webhooks_router(host.db),
            exports_router(host.db),
            chargeback_router(host.db, settings.fleet_rates, settings.chargeback_idle),
            service_key=service_key,
        )

    host.http = HttpServer(build_http_app, settings.http_host, settings.http_port)
    host.add_background(host.http.serve)
    host.on_stop(host.http.stop)
    return host


def main() -> None:
    settings = MeteringSettings()
    try:
        settings.service_key()
    except ServiceKeyRefused as error:
        raise SystemExit(f"metering: refusing to start: {error}") from None
    run_service(SERVICE, settings, lambda: create_service(settings))


if __name__ == "__main__":
    main()
