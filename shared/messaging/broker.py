"""The NATS broker factory: faststream with OpenTelemetry middleware, so traceparent travels in headers."""

from __future__ import annotations

import logging

from faststream.nats import NatsBroker
from faststream.nats.opentelemetry import NatsTelemetryMiddleware
from nats.js import JetStreamContext
from opentelemetry import trace

from shared.messaging.patience import patiently
from shared.messaging.streams import ensure_streams


def nats_servers(nats_url: str) -> list[str]:
    """AIFACTORY_NATS_URL names one server or, comma-separated, several servers of one cluster: the client
    connects to any of them and moves to another when its server is lost."""
    servers = [url.strip() for url in nats_url.split(",") if url.strip()]
    if not servers:
        raise ValueError("no NATS server URL given")
    return servers


def create_broker(nats_url: str, service_name: str) -> NatsBroker:
    return NatsBroker(
        nats_servers(nats_url),
        name=f"aifactory-{service_name}",
        middlewares=[NatsTelemetryMiddleware(tracer_provider=trace.get_tracer_provider())],
        max_reconnect_attempts=-1,
        # Per-message receive/processed lines would drown the service logs.
        log_level=logging.DEBUG,
    )


async def connect_and_declare(broker: NatsBroker, replicas: int = 1) -> JetStreamContext:
    """Connect, declare every stream (created with `replicas` copies), and hand back the JetStream
    context (subscribers start after)."""
    await broker.connect()
    js = broker.connection.jetstream()
    await patiently(lambda: ensure_streams(js, replicas), "declaring the streams")
    return js
