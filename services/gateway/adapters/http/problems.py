"""RFC 9457 problem+json for every error the HTTP edge can answer with, and the request-body guard."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.gateway.domain.errors import (
    Conflict,
    DoesNotFitFleet,
    FieldError,
    Forbidden,
    GatewayError,
    IdempotencyKeyReused,
    InvalidInput,
    NotFound,
    Unauthenticated,
)

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
_STATUS_BY_ERROR: dict[type[GatewayError], int] = {
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    InvalidInput: 422,
    IdempotencyKeyReused: 422,
    DoesNotFitFleet: 422,
}
_TITLE_BY_STATUS = {
    400: "Bad request",
    404: "Not found",
    405: "Method not allowed",
    413: "Content too large",
    415: "Unsupported media type",
    500: "Internal error",
}
_BODY_METHODS = {"POST", "PUT", "PATCH"}


def problem(
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    errors: Sequence[FieldError] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"urn:aifactory:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors:
        body["errors"] = [{"field": e.field, "in": e.location, "message": e.message} for e in errors]
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def status_of(error: GatewayError) -> int:
    for kind in type(error).__mro__:
        if kind in _STATUS_BY_ERROR:
            return _STATUS_BY_ERROR[kind]
    return 400


async def _gateway_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, GatewayError)
    status = status_of(error)
    errors = error.errors if isinstance(error, InvalidInput) else ()
    headers = {"WWW-Authenticate": 'Bearer realm="aifactory"'} if status == 401 else None
    return problem(status, error.code, error.title, error.detail, errors=errors, headers=headers)


# pydantic's wording for the body as a whole ("Field required") would puzzle a client.
_WHOLE_BODY_MESSAGES = {
    "missing": "the request needs a JSON object body",
    "model_attributes_type": "the body must be a JSON object",
}


def _field_errors(raw: Sequence[Any]) -> list[FieldError]:
    found = []
    for item in raw:
        location, *path = item.get("loc", ()) or ("body",)
        message = str(item.get("msg", "is invalid"))
        if location == "body" and not path:
            message = _WHOLE_BODY_MESSAGES.get(item.get("type", ""), message)
        field = ".".join(str(part) for part in path) or str(location)
        found.append(FieldError(field, message, str(location)))
    return found


async def _validation_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    raw = list(error.errors())
    malformed = next((e for e in raw if e.get("type") == "json_invalid"), None)
    if malformed is not None:
        position = malformed.get("loc", ("body", "?"))[-1]
        reason = (malformed.get("ctx") or {}).get("error", "JSON decode error")
        return problem(
            400,
            "malformed-json",
            "Malformed JSON",
            f"the request body is not valid JSON: {reason} at character {position}",
        )
    errors = _field_errors(raw)
    detail = "; ".join(f"{e.field}: {e.message}" for e in errors[:10])
    return problem(422, "invalid-input", "Invalid input", detail, errors=errors)


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    status = error.status_code
    if status == 404:
        detail = f"no resource at {request.url.path}"
    elif status == 405:
        detail = f"{request.method} is not allowed on {request.url.path}"
    else:
        detail = str(error.detail)
    code = _TITLE_BY_STATUS.get(status, "http-error").lower().replace(" ", "-")
    return problem(status, code, _TITLE_BY_STATUS.get(status, "HTTP error"), detail, headers=error.headers)


async def _unexpected_error(request: Request, error: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
    return problem(500, "internal-error", "Internal error", "the gateway failed to handle the request")


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(GatewayError, _gateway_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)


class RequestBodyGuard:
    """Refuses oversize and non-JSON bodies before any handler runs.

    The size is checked twice: on the declared Content-Length before reading anything, and on the bytes
    actually received, because a chunked or lying client declares nothing or too little.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    def _too_large(self) -> str:
        return f"the request body exceeds the limit of {self.max_body_bytes} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    # Re-raised by FastAPI's body reader and answered by the HTTPException handler.
                    raise HTTPException(413, self._too_large())
            return message

        await self.app(scope, counted_receive, send)

    def _refusal(self, scope: Scope) -> JSONResponse | None:
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        length = 0
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                return problem(
                    400, "bad-request", "Bad request", f"Content-Length {declared!r} is not a number"
                )
            if length > self.max_body_bytes:
                return problem(413, "content-too-large", "Content too large", self._too_large())
        has_body = length > 0 or "chunked" in headers.get("transfer-encoding", "")
        if scope["method"] in _BODY_METHODS and has_body and not _is_json(headers.get("content-type", "")):
            return problem(
                415,
                "unsupported-media-type",
                "Unsupported media type",
                f"send the body as application/json, not {headers.get('content-type') or 'no Content-Type'}",
            )
        return None


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))
