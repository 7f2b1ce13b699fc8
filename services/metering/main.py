"""Metering's entry point: `python -m services.metering.main`.

Consumes gateway tenants, price books and finalize requests, scheduler allocation releases and ingest
usage; emits InvoiceUpdated and InvoiceFinalized. No HTTP: the gateway serves invoices from its read model.
"""

from __future__ import annotations

from pathlib import Path

from services.metering.adapters.consumers import metering_consumers
from services.metering.adapters.invoice_publisher import InvoicePublisher
from services.metering.settings import MeteringSettings
from shared.clock import Clock
from shared.service import ServiceHost, run_service

SERVICE = "metering"
SCHEMA = "metering"
MIGRATIONS = Path(__file__).parent / "adapters" / "migrations"


def create_service(settings: MeteringSettings, *, clock: Clock | None = None) -> ServiceHost:
    host = ServiceHost(SERVICE, settings, schema=SCHEMA, migrations=MIGRATIONS, clock=clock)
    host.add_consumers(lambda: metering_consumers(host.clock, settings.max_deliveries))

    async def publish_invoices() -> None:
        await InvoicePublisher(host.db, host.clock, settings.invoice_publish_interval_s).run()

    host.add_background(publish_invoices)
    return host


def main() -> None:
    settings = MeteringSettings()
    run_service(SERVICE, settings, lambda: create_service(settings))


if __name__ == "__main__":
    main()
