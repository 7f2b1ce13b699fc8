"""Ingest's app factory and entry point: `python -m services.ingest.main`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from pydantic import ValidationError

from services.ingest.adapters.consumers import ingest_consumers, sample_consumer
from services.ingest.adapters.http.api import create_http_app
from services.ingest.adapters.postgres import PgDeadLetterReader, PgUnitOfWork
from services.ingest.app.bus import RecordSamples
from services.ingest.app.external import ExternalUsageIngest
from services.ingest.app.maintenance import expire_held_samples_forever, prune_forever
from services.ingest.domain.time_window import TimeLimits
from services.ingest.settings import IngestSettings
from shared.clock import Clock
from shared.http.server import HttpServer, run_http_service
from shared.service import ServiceHost

SERVICE = "ingest"
MIGRATIONS = Path(__file__).parent / "adapters" / "migrations"


class IngestService(ServiceHost):
    """The ingest ServiceHost, with its HTTP server at hand (tests read the port it listens on)."""

    http: HttpServer


def create_service(settings: IngestSettings, *, clock: Clock | None = None) -> IngestService:
    host = IngestService(SERVICE, settings, schema=SERVICE, migrations=MIGRATIONS, clock=clock)
    limits = TimeLimits(max_future_skew_s=settings.max_future_skew_s, max_age_s=settings.max_age_s)

    host.add_consumers(lambda: ingest_consumers(settings.max_deliveries))
    record_samples = RecordSamples(host.clock, limits)
    host.add_consumers(
        lambda: [
            sample_consumer(record_samples, host.js, settings.max_deliveries, settings.sample_batch_size)
        ]
    )

    def build_http_app() -> FastAPI:
        unit_of_work = PgUnitOfWork(host.db)
        return create_http_app(
            ExternalUsageIngest(unit_of_work, host.clock, limits),
            PgDeadLetterReader(host.db),
            token=settings.ingest_token.get_secret_value(),
            max_body_bytes=settings.max_body_bytes,
        )

    host.http = HttpServer(build_http_app, settings.http_host, settings.http_port)
    host.add_background(host.http.serve)
    host.on_stop(host.http.stop)

    async def prune() -> None:
        await prune_forever(PgUnitOfWork(host.db), host.clock, limits, settings.prune_interval_s)

    host.add_background(prune)

    async def expire_held_samples() -> None:
        await expire_held_samples_forever(
            PgUnitOfWork(host.db), host.clock, settings.held_sample_retention_s, settings.prune_interval_s
        )

    host.add_background(expire_held_samples)
    return host


def main(settings: IngestSettings | None = None) -> None:
    """`settings`: read from the environment unless given."""
    if settings is None:
        try:
            settings = IngestSettings()  # type: ignore[call-arg]  # ingest_token comes from the environment
        except ValidationError as error:
            raise SystemExit(
                f"ingest: bad settings (set AIFACTORY_INGEST_TOKEN and check AIFACTORY_*): {error}"
            ) from None
    if problem := settings.token_problem():
        raise SystemExit(f"ingest: refusing to start: {problem}")
    # A taken port stops ingest cleanly, then exits 1.
    run_http_service(SERVICE, settings, lambda: create_service(settings), lambda service: service.http)


if __name__ == "__main__":
    main()
