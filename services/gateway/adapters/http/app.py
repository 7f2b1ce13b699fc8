"""The FastAPI application factory; tests drive it through httpx's ASGITransport or a real port."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from services.gateway.adapters.http import (
    routes_admin,
    routes_audit,
    routes_billing_fleet,
    routes_budgets_webhooks,
    routes_chargeback,
    routes_jobs,
    routes_keys,
    routes_usage_exports,
)
from services.gateway.adapters.http.problems import GATEWAY_CODES, install_gateway_problem_handlers
from services.gateway.adapters.http.schemas import ProblemDetails
from services.gateway.app.use_cases import GatewayUseCases
from shared.http.body_guard import RequestBodyGuard
from shared.http.problems import PROBLEM_JSON
from shared.http.tracing import FASTAPI_NATIVE_TELEMETRY_OFF, TracingMiddleware

DEFAULT_MAX_BODY_BYTES = 65_536

_PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": ProblemDetails, "content": {PROBLEM_JSON: {}}, "description": "a problem"},
}


def create_http_app(use_cases: GatewayUseCases, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> FastAPI:
    app = FastAPI(
        telemetry=FASTAPI_NATIVE_TELEMETRY_OFF,
        title="aifactory gateway",
        version="1.0",
        description="Tenants, projects, API keys, GPU jobs, invoices and the fleet of a governed GPU platform.",
    )
    app.state.use_cases = use_cases
    install_gateway_problem_handlers(app)
    app.add_middleware(RequestBodyGuard, max_body_bytes=max_body_bytes, codes=GATEWAY_CODES)
    app.add_middleware(TracingMiddleware)  # outermost: the guard's refusals are traced too
    routers = (
        routes_admin.router,
        routes_keys.router,
        routes_jobs.router,
        routes_billing_fleet.router,
        routes_budgets_webhooks.router,
        routes_usage_exports.router,
        routes_chargeback.router,
        routes_audit.router,
    )
    for router in routers:
        app.include_router(router, responses=_PROBLEM_RESPONSES)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """No authentication: the service is up and serving."""
        return {"status": "ok"}

    return app
