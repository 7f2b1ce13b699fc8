"""OpenTelemetry set-up and W3C trace context helpers."""

from __future__ import annotations

import logging

from opentelemetry import context, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_PROPAGATOR = TraceContextTextMapPropagator()


def setup_telemetry(
    service_name: str, *, console: bool = False, exporter: SpanExporter | None = None
) -> TracerProvider:
    """A tracer provider for one service; spans go to the given exporter, or the console when asked."""
    provider = TracerProvider(resource=Resource.create({"service.name": f"aifactory-{service_name}"}))
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    elif console:
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider


def setup_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def current_traceparent() -> str | None:
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


def context_from_headers(headers: dict[str, str]) -> context.Context:
    return _PROPAGATOR.extract(headers)
