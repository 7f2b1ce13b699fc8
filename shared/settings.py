"""Settings read from the environment (prefix AIFACTORY_), one subclass per service."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class PlatformSettings(BaseSettings):
    """What every service needs: where NATS and PostgreSQL are, and how to report telemetry."""

    model_config = SettingsConfigDict(env_prefix="AIFACTORY_", extra="ignore")

    nats_url: str = "nats://127.0.0.1:4222"
    database_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    # Console span export is noisy; operators point OTEL_EXPORTER_* at a collector instead.
    telemetry_console: bool = False
    log_level: str = "INFO"
    # How often the outbox relay looks for rows when nothing woke it (seconds).
    outbox_poll_s: float = 0.5
    # A message that fails this many times goes to the dead-letter record.
    max_deliveries: int = 5
