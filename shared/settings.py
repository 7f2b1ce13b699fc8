"""Settings read from the environment (prefix AIFACTORY_), one subclass per service."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.events.priority_classes import DEFAULT_CLASS, DEFAULT_CLASSES, PriorityClasses


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
    # Copies of each JetStream stream this service creates (AIFACTORY_STREAM_REPLICAS): 3 on a NATS
    # cluster. A stream that exists already keeps what it has when that is more (shared/messaging/streams.py).
    stream_replicas: int = Field(default=1, ge=1, le=5)
    # processed_events rows are kept this long, at least (shared/messaging/retention.py), and looked
    # through for older ones this often.
    processed_events_retention_s: float = Field(default=100 * 86_400, gt=0)
    processed_events_prune_interval_s: float = Field(default=3600.0, gt=0)


class PriorityClassSettings(BaseModel):
    """The operator's priority classes, which the gateway and the scheduler both read (the same values
    for both): AIFACTORY_PRIORITY_CLASSES, a JSON object of class name -> integer priority, and
    AIFACTORY_DEFAULT_PRIORITY_CLASS, the class of a job that names none. Refused at start-up when
    malformed (shared/events/priority_classes.py)."""

    priority_classes: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_CLASSES))
    default_priority_class: str = DEFAULT_CLASS

    @model_validator(mode="after")
    def _valid_classes(self) -> Self:
        self.priority_class_rules()
        return self

    def priority_class_rules(self) -> PriorityClasses:
        return PriorityClasses(self.priority_classes, self.default_priority_class)
