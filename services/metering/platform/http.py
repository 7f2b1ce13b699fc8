"""Metering's internal HTTP app: the features' routers behind one FastAPI app, with GET /healthz, errors
as RFC 9457 problems (snake_case codes, like the domain errors') and tracing.

Internal: the gateway calls it on behalf of a tenant it has authenticated, and passes that tenant's id
as the `tenant_id` query parameter; every route reads that tenant's data and no one else's. Keep it on
a private address (http_host, default 127.0.0.1).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, FastAPI, Query

from pricing.errors import InvalidPeriod
from pricing.periods import period_problems
from shared.http.problems import ProblemCodes, ProblemError, install_problem_handlers
from shared.http.tracing import FASTAPI_NATIVE_TELEMETRY_OFF, TracingMiddleware

# snake_case, like metering's domain error codes.
METERING_CODES = ProblemCodes(separator="_", invalid_input="invalid request")

TenantId = Annotated[str, Query(min_length=1, description="the authenticated tenant")]


def checked_period(period: str, field: str = "period") -> str:
    """The YYYY-MM period of a query parameter; a 400 problem naming the parameter when it is not one."""
    if problems := period_problems(period, field):
        raise ProblemError(
            400,
            InvalidPeriod.code,
            "; ".join(map(str, problems)),
            errors=[{"field": p.field, "in": "query", "message": p.message} for p in problems],
        )
    return period


def create_http_app(*routers: APIRouter) -> FastAPI:
    app = FastAPI(
        telemetry=FASTAPI_NATIVE_TELEMETRY_OFF,
        title="aifactory metering (internal)",
        openapi_url="/openapi.json",
        docs_url=None,
    )
    install_problem_handlers(app, METERING_CODES)
    app.add_middleware(TracingMiddleware)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    for router in routers:
        app.include_router(router)
    return app
