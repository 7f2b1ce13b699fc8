"""Metering's internal HTTP app: the features' routers behind one FastAPI app, with GET /healthz, errors
as RFC 9457 problems (snake_case codes, like the domain errors') and tracing.

Internal, and answering the gateway only: every route but /healthz needs the gateway's signed assertion
(`Authorization: AIFactory-Service <token>`, shared/contracts/service_auth.py, made with the secret
AIFACTORY_METERING_API_KEY that only the gateway and metering hold) for this method and path, and takes
the tenant from it (TenantId), or the operator's fleet view (CallerScope), never from the query string.
No valid assertion: 401; a `tenant_id` query parameter other than the asserted tenant, or a tenant's
route asked in the fleet's scope: 403 (problem+json, naming no tenant). Keep it on a private address
(http_host, default 127.0.0.1).
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request

from pricing.errors import InvalidPeriod
from pricing.periods import period_problems
from shared.contracts.service_auth import SCHEME, InvalidAssertion, ServiceScope, verify_authorization
from shared.http.problems import ProblemCodes, ProblemError, install_problem_handlers
from shared.http.tracing import FASTAPI_NATIVE_TELEMETRY_OFF, TracingMiddleware

# snake_case, like metering's domain error codes.
METERING_CODES = ProblemCodes(separator="_", invalid_input="invalid request")


async def caller_scope(request: Request) -> ServiceScope:
    """For whom the gateway asks, from its assertion on this request; every feature's route depends on it
    (create_http_app), once per request. 401 without a valid assertion; 403 when a `tenant_id` query
    parameter is not the asserted tenant (it is never read otherwise)."""
    key: str = request.app.state.service_key
    try:
        assertion = verify_authorization(
            key, request.headers.get("authorization"), request.method, request.url.path, time.time()
        )
    except InvalidAssertion as error:
        raise ProblemError(
            401, "unauthenticated", str(error), headers={"WWW-Authenticate": SCHEME}
        ) from error
    asked = request.query_params.getlist("tenant_id")
    if asked and (assertion.scope.is_fleet or any(t != assertion.scope.tenant_id for t in asked)):
        raise ProblemError(403, "scope_mismatch", "tenant_id is not the tenant this call was signed for")
    return assertion.scope


CallerScope = Annotated[ServiceScope, Depends(caller_scope)]


async def asserted_tenant(scope: CallerScope) -> str:
    if scope.tenant_id is None:
        raise ProblemError(
            403, "scope_mismatch", "this route answers for one tenant: the fleet's scope is refused"
        )
    return scope.tenant_id


# The tenant the gateway asserted (a route's parameter); never a query parameter.
TenantId = Annotated[str, Depends(asserted_tenant)]


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


def create_http_app(*routers: APIRouter, service_key: str) -> FastAPI:
    """The features' routers, each route behind caller_scope (the assertion made with `service_key`)."""
    app = FastAPI(
        telemetry=FASTAPI_NATIVE_TELEMETRY_OFF,
        title="aifactory metering (internal)",
        openapi_url="/openapi.json",
        docs_url=None,
    )
    app.state.service_key = service_key
    install_problem_handlers(app, METERING_CODES)
    app.add_middleware(TracingMiddleware)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    for router in routers:
        app.include_router(router, dependencies=[Depends(caller_scope)])
    return app
