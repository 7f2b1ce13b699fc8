"""`Annotated` dependency aliases at the HTTP edge: the use cases, the calling principal and a list's page."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from opentelemetry import trace

from services.gateway.app.pages import PageRequest
from services.gateway.app.use_cases import GatewayUseCases
from services.gateway.domain.audit import clean_request_id
from services.gateway.domain.auth import Principal
from services.gateway.domain.errors import Unauthenticated
from services.gateway.domain.pages import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

# auto_error=False: a missing key must become our problem+json 401, not FastAPI's plain 403.
_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <API key>")
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="the API key")


def _use_cases(request: Request) -> GatewayUseCases:
    use_cases: GatewayUseCases = request.app.state.use_cases
    return use_cases


UseCases = Annotated[GatewayUseCases, Depends(_use_cases)]


async def _principal(
    request: Request,
    use_cases: UseCases,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key_header)],
) -> Principal:
    authorization = request.headers.get("authorization")
    if authorization and bearer is None:
        raise Unauthenticated("the Authorization header must be 'Bearer <API key>'")
    presented = bearer.credentials if bearer is not None else api_key
    principal = await use_cases.authenticator.authenticate(presented)
    return replace(principal, request_id=_request_id(request))


def _request_id(request: Request) -> str | None:
    """What the audit log records the request by: the caller's X-Request-Id, else the request's trace id
    (the span TracingMiddleware opened), else none."""
    presented = clean_request_id(request.headers.get("x-request-id"))
    if presented is not None:
        return presented
    span = trace.get_current_span().get_span_context()
    return format(span.trace_id, "032x") if span.is_valid else None


CurrentPrincipal = Annotated[Principal, Depends(_principal)]


def _page(
    page_size: Annotated[
        int, Query(ge=1, le=MAX_PAGE_SIZE, description="items per page")
    ] = DEFAULT_PAGE_SIZE,
    page_token: Annotated[
        str | None, Query(description="the next_page_token of the previous page; omit for the first")
    ] = None,
) -> PageRequest:
    return PageRequest(page_size, page_token)


Paging = Annotated[PageRequest, Depends(_page)]
