"""Versioned event contracts, one module per producer. A breaking change is a new version, never an edit."""

from shared.events import agent, gateway, ingest, metering, scheduler
from shared.events.base import Event, event_registry

ALL_EVENTS: dict[str, type[Event]] = event_registry(gateway, scheduler, agent, ingest, metering)

__all__ = ["ALL_EVENTS", "Event"]
