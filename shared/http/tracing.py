"""One OpenTelemetry SERVER span per HTTP request, continuing the caller's W3C trace.

The span is current while the request is handled, so what the handler does joins the request's trace:
events it emits (Tx.emit reads the current traceparent) carry it onto the bus.
"""

from __future__ import annotations

from fastapi.telemetry import TelemetryConfig
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode, TracerProvider
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.telemetry import context_from_headers


class TracingMiddleware:
    """ASGI middleware; add it last (outermost) so that refusals by other middleware are traced too."""

    def __init__(self, app: ASGIApp, *, tracer_provider: TracerProvider | None = None) -> None:
        self.app = app
        self._tracer = trace.get_tracer("aifactory.http", tracer_provider=tracer_provider)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        carrier = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        attributes = {"http.request.method": method, "url.path": scope["path"]}
        with self._tracer.start_as_current_span(
            method, context=context_from_headers(carrier), kind=SpanKind.SERVER, attributes=attributes
        ) as span:

            async def send_noting_status(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status: int = message["status"]
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(StatusCode.ERROR)
                await send(message)

            try:
                await self.app(scope, receive, send_noting_status)
            finally:
                # The router records the matched route in the scope: name the span by its template.
                route = getattr(scope.get("route"), "path", None)
                if isinstance(route, str):
                    span.set_attribute("http.route", route)
                    span.update_name(f"{method} {route}")


# For FastAPI(telemetry=...): FastAPI's own OpenTelemetry instrumentation stays off, because
# TracingMiddleware already gives each request its span; both made two spans, metrics and log records
# per request, a fifth of the gateway's time per job.
FASTAPI_NATIVE_TELEMETRY_OFF: TelemetryConfig = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
}
