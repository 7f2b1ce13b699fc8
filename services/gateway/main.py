"""The gateway service: `python -m services.gateway.main` (settings from AIFACTORY_* variables)."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI

from services.gateway.adapters.consumers import gateway_consumers
from services.gateway.adapters.http.app import create_http_app
from services.gateway.adapters.metering_client import MeteringClient
from services.gateway.adapters.postgres.store import PgGatewayStore
from services.gateway.app.use_cases import GatewayUseCases
from services.gateway.settings import AdminKeyRefused, GatewaySettings
from shared.clock import Clock
from shared.contracts.service_auth import service_key_problem
from shared.http.server import HttpServer, run_http_service
from shared.service import ServiceHost

log = logging.getLogger(__name__)

SERVICE_NAME = "gateway"
SCHEMA = "gateway"
MIGRATIONS = Path(__file__).parent / "adapters" / "migrations"


class GatewayService(ServiceHost):
    """The platform host plus the HTTP edge; `http_app` serves tests, `http` the bound port."""

    def __init__(self, settings: GatewaySettings, clock: Clock | None = None) -> None:
        admin_key = settings.operator_key()  # AdminKeyRefused: a placeholder, short, or two sources
        super().__init__(SERVICE_NAME, settings, schema=SCHEMA, migrations=MIGRATIONS, clock=clock)
        if not admin_key:
            log.warning(
                "AIFACTORY_ADMIN_KEY is empty: operator actions (tenants, quotas, prices) are disabled"
            )
        store = PgGatewayStore(lambda: self.db)
        metering_key = metering_service_key(settings)  # ValueError: short or a placeholder
        if not metering_key:
            log.warning("AIFACTORY_METERING_API_KEY is empty: metering refuses the gateway's reads (503)")
        metering = MeteringClient(settings.metering_url, service_key=metering_key)
        self.use_cases = GatewayUseCases.build(
            store,
            self.clock,
            admin_key,
            metering,
            settings.priority_class_rules(),
            allow_non_global_webhooks=settings.webhook_allow_internal,
        )
        self.http_app: FastAPI = create_http_app(self.use_cases, max_body_bytes=settings.max_body_bytes)
        self.http = HttpServer(lambda: self.http_app, settings.http_host, settings.http_port)
        self.add_consumers(lambda: gateway_consumers(settings.max_deliveries))
        self.add_background(self.http.serve)
        self.on_stop(self.http.stop)
        self.on_stop(metering.close)


def metering_service_key(settings: GatewaySettings) -> str:
    """The secret that signs the reads from metering (shared/contracts/service_auth.py; "" for none);
    ValueError when it is set but unfit (short, a placeholder)."""
    key = settings.metering_api_key.get_secret_value()
    if key and (problem := service_key_problem(key)):
        raise ValueError(f"AIFACTORY_METERING_API_KEY {problem}")
    return key


def create_service(settings: GatewaySettings, clock: Clock | None = None) -> GatewayService:
    return GatewayService(settings, clock)


def main() -> None:
    settings = GatewaySettings()
    try:
        settings.operator_key()
    except AdminKeyRefused as error:
        raise SystemExit(f"gateway: refusing to start: {error}") from None
    try:
        metering_service_key(settings)
    except ValueError as error:
        raise SystemExit(f"gateway: refusing to start: {error}") from None
    # Without its HTTP edge the gateway is useless: a taken port stops it cleanly, then exits 1.
    run_http_service(SERVICE_NAME, settings, lambda: create_service(settings), lambda service: service.http)


if __name__ == "__main__":
    main()
