"""The gateway's problem+json: its domain errors mapped to statuses, on top of shared/http's handlers."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.gateway.app.billing_controls import MeteringUnavailable
from services.gateway.domain.errors import (
    Conflict,
    DoesNotFitFleet,
    Forbidden,
    GatewayError,
    IdempotencyKeyReused,
    InvalidInput,
    NotFound,
    Unauthenticated,
)
from shared.http.problems import ProblemCodes, field_errors_json, install_problem_handlers, problem_response

# Kebab-case, like the domain's own codes (not-found, invalid-input).
GATEWAY_CODES = ProblemCodes(separator="-", invalid_input="invalid input")

_STATUS_BY_ERROR: dict[type[GatewayError], int] = {
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    InvalidInput: 422,
    IdempotencyKeyReused: 422,
    DoesNotFitFleet: 422,
    MeteringUnavailable: 503,
}


def status_of(error: GatewayError) -> int:
    for kind in type(error).__mro__:
        if kind in _STATUS_BY_ERROR:
            return _STATUS_BY_ERROR[kind]
    return 400


async def _gateway_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, GatewayError)
    status = status_of(error)
    extensions = {"errors": field_errors_json(error.errors)} if isinstance(error, InvalidInput) else {}
    headers = {"WWW-Authenticate": 'Bearer realm="aifactory"'} if status == 401 else None
    return problem_response(
        status, error.code, error.detail, title=error.title, headers=headers, **extensions
    )


def install_gateway_problem_handlers(app: FastAPI) -> None:
    install_problem_handlers(app, GATEWAY_CODES)
    app.add_exception_handler(GatewayError, _gateway_error)
