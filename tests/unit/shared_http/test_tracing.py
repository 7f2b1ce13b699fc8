"""The tracing middleware: one SERVER span per request, continuing the caller's traceparent."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from shared.http.problems import install_problem_handlers
from shared.http.tracing import TracingMiddleware
from shared.telemetry import current_traceparent

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{CALLER_SPAN_ID}-01"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
async def client(exporter: InMemorySpanExporter) -> AsyncIterator[httpx.AsyncClient]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = FastAPI()
    install_problem_handlers(app)
    app.add_middleware(TracingMiddleware, tracer_provider=provider)

    @app.get("/jobs/{job_id}")
    async def job(job_id: str) -> dict[str, str | None]:
        # What Tx.emit stamps on an event emitted while handling this request.
        return {"job_id": job_id, "traceparent": current_traceparent()}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def test_a_request_continues_the_callers_trace(
    client: httpx.AsyncClient, exporter: InMemorySpanExporter
) -> None:
    response = await client.get("/jobs/j-1", headers={"traceparent": TRACEPARENT})
    assert response.status_code == 200
    (span,) = exporter.get_finished_spans()
    assert span.kind is SpanKind.SERVER and span.name == "GET /jobs/{job_id}"
    assert format(span.context.trace_id, "032x") == TRACE_ID
    assert span.parent is not None and format(span.parent.span_id, "016x") == CALLER_SPAN_ID
    assert span.attributes is not None
    assert span.attributes["http.route"] == "/jobs/{job_id}"
    assert span.attributes["http.response.status_code"] == 200
    # Events emitted by the handler carry the request's trace, with the server span as their parent.
    assert response.json()["traceparent"] == f"00-{TRACE_ID}-{span.context.span_id:016x}-01"


async def test_a_request_without_a_traceparent_starts_a_trace(
    client: httpx.AsyncClient, exporter: InMemorySpanExporter
) -> None:
    response = await client.get("/jobs/j-2")
    (span,) = exporter.get_finished_spans()
    assert span.parent is None and format(span.context.trace_id, "032x") != TRACE_ID
    _, trace_id, parent_id, _ = response.json()["traceparent"].split("-")
    assert (trace_id, parent_id) == (f"{span.context.trace_id:032x}", f"{span.context.span_id:016x}")


async def test_a_server_error_marks_the_span(
    client: httpx.AsyncClient, exporter: InMemorySpanExporter
) -> None:
    assert (await client.get("/boom", headers={"traceparent": TRACEPARENT})).status_code == 500
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert format(span.context.trace_id, "032x") == TRACE_ID


async def test_an_unknown_route_is_traced_under_its_method(
    client: httpx.AsyncClient, exporter: InMemorySpanExporter
) -> None:
    assert (await client.get("/nothing")).status_code == 404
    (span,) = exporter.get_finished_spans()
    assert span.name == "GET" and span.attributes is not None
    assert span.attributes["http.response.status_code"] == 404 and span.attributes["url.path"] == "/nothing"
