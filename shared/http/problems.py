"""RFC 9457 problem details: every error an HTTP edge answers with is application/problem+json.

A body has `type` (urn:aifactory:problem:<code>), `title`, `status`, `detail` (what is wrong), the
stable `code` clients match on, and extensions such as `errors` (one entry per bad field). The generic
handlers here cover what every FastAPI app meets (404/405 and other HTTP errors, request validation,
malformed JSON, oversize bodies, unexpected errors); a service maps its own domain errors with
problem_response or by raising ProblemError.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from shared.db.availability import database_unavailable

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:aifactory:problem:"

# RFC 9110's names where Python's differ (3.11 still calls 413 "Request Entity Too Large").
_TITLE_BY_STATUS = {413: "Content too large", 500: "Internal error"}

# pydantic's wording for the body as a whole ("Field required") would puzzle a client.
_WHOLE_BODY_MESSAGES = {
    "missing": "the request needs a JSON object body",
    "model_attributes_type": "the body must be a JSON object",
}
_MAX_DETAILED_FIELDS = 10


@dataclass(frozen=True)
class ProblemCodes:
    """How one service spells the codes of the generic problems; its clients already match on them
    (the gateway's are kebab-case, `not-found`; ingest's snake_case, `not_found`)."""

    separator: str = "-"
    invalid_input: str = "invalid input"  # the words for a request whose fields fail validation

    def code(self, words: str) -> str:
        return self.separator.join(words.lower().split())


class FieldErrorLike(Protocol):
    """One thing wrong with one input: `field` a dotted path, `location` body | query | header | path."""

    @property
    def field(self) -> str: ...

    @property
    def message(self) -> str: ...

    @property
    def location(self) -> str: ...


@dataclass(frozen=True)
class FieldProblem:
    field: str
    message: str
    location: str = "body"


def field_errors_json(errors: Iterable[FieldErrorLike]) -> list[dict[str, str]]:
    """The `errors` extension: [{field, in, message}]."""
    return [{"field": e.field, "in": e.location, "message": e.message} for e in errors]


def _phrase(status: int) -> str | None:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return None


def status_title(status: int) -> str:
    return _TITLE_BY_STATUS.get(status) or (_phrase(status) or "HTTP error").capitalize()


def problem_response(
    status: int,
    code: str,
    detail: str,
    *,
    title: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    """A problem+json response; `title` defaults to the code in words."""
    body = {
        "type": PROBLEM_TYPE_PREFIX + code,
        "title": title or code.replace("_", " ").replace("-", " ").capitalize(),
        "status": status,
        "detail": detail,
        "code": code,
        **extensions,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


class ProblemError(Exception):
    """Raise at the HTTP edge to answer with a problem; `code` is stable, `detail` says what is wrong."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        title: str | None = None,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.title = title
        self.headers = headers
        self.extensions = extensions

    def response(self) -> JSONResponse:
        return problem_response(
            self.status, self.code, self.detail, title=self.title, headers=self.headers, **self.extensions
        )


def field_problems(raw: Sequence[Any]) -> list[FieldProblem]:
    """pydantic/FastAPI validation errors as field problems: `loc` is (location, *path)."""
    found = []
    for item in raw:
        location, *path = item.get("loc", ()) or ("body",)
        message = str(item.get("msg", "is invalid"))
        if location == "body" and not path:
            message = _WHOLE_BODY_MESSAGES.get(item.get("type", ""), message)
        field = ".".join(str(part) for part in path) or str(location)
        found.append(FieldProblem(field, message, str(location)))
    return found


def _where(error: FieldErrorLike) -> str:
    # The body is where fields usually are; other places are named (query.limit, header.x-key).
    return error.field if error.location == "body" else f"{error.location}.{error.field}"


def invalid_input_response(errors: Sequence[FieldErrorLike], codes: ProblemCodes) -> JSONResponse:
    """The 422 for fields that fail validation: each named in `detail` and in the `errors` extension."""
    detail = "; ".join(f"{_where(e)}: {e.message}" for e in errors[:_MAX_DETAILED_FIELDS])
    return problem_response(
        422,
        codes.code(codes.invalid_input),
        detail,
        title=codes.invalid_input.capitalize(),
        errors=field_errors_json(errors),
    )


def install_problem_handlers(app: FastAPI, codes: ProblemCodes | None = None) -> None:
    """Answer ProblemError, HTTP errors, validation errors and unexpected errors with problem+json."""
    spell = codes or ProblemCodes()

    async def on_problem(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, ProblemError)
        return error.response()

    async def on_invalid_request(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        raw = list(error.errors())
        malformed = next((e for e in raw if e.get("type") == "json_invalid"), None)
        if malformed is not None:
            position = malformed.get("loc", ("body", "?"))[-1]
            reason = (malformed.get("ctx") or {}).get("error", "JSON decode error")
            detail = f"the request body is not valid JSON: {reason} at character {position}"
            return problem_response(400, spell.code("malformed json"), detail, title="Malformed JSON")
        return invalid_input_response(field_problems(raw), spell)

    async def on_http_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, HTTPException)
        status = error.status_code
        detail = str(error.detail)
        if detail == _phrase(status):  # Starlette's default: say what was asked instead
            if status == 404:
                detail = f"no resource at {request.url.path}"
            elif status == 405:
                detail = f"{request.method} is not allowed on {request.url.path}"
        title = status_title(status)
        return problem_response(status, spell.code(title), detail, title=title, headers=error.headers)

    async def on_unexpected_error(request: Request, error: Exception) -> JSONResponse:
        if database_unavailable(error):
            # A restart or fail-over of PostgreSQL: nothing was done, and the same request will succeed.
            log.warning("database unavailable on %s %s: %r", request.method, request.url.path, error)
            detail = "the database cannot be reached right now; nothing was changed: try again"
            return problem_response(
                503,
                spell.code("unavailable"),
                detail,
                title="Service unavailable",
                headers={"Retry-After": "1"},
            )
        log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
        detail = "the server failed to handle the request (its log has the cause)"
        return problem_response(500, spell.code("internal error"), detail, title="Internal error")

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(RequestValidationError, on_invalid_request)
    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected_error)
