"""The HTTP routes: POST /v1/usage (CloudEvents), GET /v1/dead-letters, GET /healthz.

Responses to POST /v1/usage:
- one event (application/cloudevents+json): 202 {accepted: 1, duplicates: 0|1, rejected: []}; a refused
  event is a 4xx problem+json (400 malformed JSON, 422 invalid event or unknown tenant/project).
- a batch (application/cloudevents-batch+json): 200 {accepted, duplicates, rejected: [{index, code,
  reason}]}: valid events are recorded, invalid ones are reported by index (207-like, in one 200 body).
  A body that is not a JSON array is a 400.
- 401 without the bearer token (nothing is stored for unauthenticated calls), 413 over max_body_bytes,
  415 for another media type. Every refusal but 401 is also a dead letter (consumer "ingest-http").
"""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request, Response, status
from pydantic import BaseModel

from services.ingest.app.external import ExternalUsageIngest, IngestResult
from services.ingest.app.ports import DeadLetterReader
from services.ingest.domain.errors import IngestError, InvalidEvent
from shared.http.problems import ProblemCodes, ProblemError, install_problem_handlers
from shared.http.tracing import FASTAPI_NATIVE_TELEMETRY_OFF, TracingMiddleware

CLOUDEVENT_JSON = "application/cloudevents+json"
CLOUDEVENT_BATCH_JSON = "application/cloudevents-batch+json"
# Kept of an oversize body for its dead letter: enough to see what it was.
OVERSIZE_PREFIX_BYTES = 64 * 1024

_STATUS_BY_CODE = {"malformed_body": status.HTTP_400_BAD_REQUEST}
# snake_case, like ingest's own codes (invalid_event, payload_too_large).
INGEST_CODES = ProblemCodes(separator="_", invalid_input="invalid request")


class RejectionOut(BaseModel):
    index: int
    code: str
    reason: str


class UsageAccepted(BaseModel):
    accepted: int
    duplicates: int
    rejected: list[RejectionOut]

    @classmethod
    def of(cls, result: IngestResult) -> UsageAccepted:
        rejected = [RejectionOut(index=r.index, code=r.code, reason=r.reason) for r in result.rejected]
        return cls(accepted=result.accepted, duplicates=result.duplicates, rejected=rejected)


class DeadLetterOut(BaseModel):
    id: int
    consumer: str
    subject: str
    event_id: str | None
    reason: str
    failed_at: datetime


class DeadLetters(BaseModel):
    dead_letters: list[DeadLetterOut]


def _ingest(request: Request) -> ExternalUsageIngest:
    ingest: ExternalUsageIngest = request.app.state.ingest
    return ingest


def _dead_letter_reader(request: Request) -> DeadLetterReader:
    reader: DeadLetterReader = request.app.state.dead_letters
    return reader


def _require_token(request: Request, authorization: Annotated[str | None, Header()] = None) -> None:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ProblemError(
            401,
            "unauthorized",
            "missing Authorization: Bearer <token>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    expected: str = request.app.state.ingest_token
    if not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise ProblemError(
            401, "unauthorized", "invalid bearer token", headers={"WWW-Authenticate": "Bearer"}
        )


Ingest = Annotated[ExternalUsageIngest, Depends(_ingest)]
DeadLetterSource = Annotated[DeadLetterReader, Depends(_dead_letter_reader)]
Authorized = Annotated[None, Depends(_require_token)]

router = APIRouter()


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.post("/v1/usage", status_code=status.HTTP_202_ACCEPTED)
async def post_usage(request: Request, response: Response, ingest: Ingest, _: Authorized) -> UsageAccepted:
    content_type = request.headers.get("content-type", "")
    request_headers = {"content-type": content_type}
    limit: int = request.app.state.max_body_bytes
    body, too_large = await _read_body(request, limit)
    # 1. Refusals before any event can be read: still dead-lettered, with what was read of the body.
    if too_large:
        reason = f"payload_too_large: the body exceeds {limit} bytes (first {len(body)} bytes kept)"
        await ingest.reject_request(body, request_headers, reason)
        raise ProblemError(413, "payload_too_large", f"the request body exceeds the limit of {limit} bytes")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type not in (CLOUDEVENT_JSON, CLOUDEVENT_BATCH_JSON):
        detail = (
            f"unsupported Content-Type {content_type or '(none)'!r}: send a CloudEvent in structured mode as "
            f"{CLOUDEVENT_JSON}, or a batch as {CLOUDEVENT_BATCH_JSON}"
        )
        await ingest.reject_request(body, request_headers, f"unsupported_media_type: {detail}")
        raise ProblemError(415, "unsupported_media_type", detail)
    # 2. The events themselves.
    try:
        if media_type == CLOUDEVENT_BATCH_JSON:
            result = await ingest.ingest_batch(body, request_headers)
            response.status_code = status.HTTP_200_OK
        else:
            result = await ingest.ingest_event(body, request_headers)
    except IngestError as error:
        extensions: dict[str, Any] = {"errors": error.problems} if isinstance(error, InvalidEvent) else {}
        raise ProblemError(
            _STATUS_BY_CODE.get(error.code, 422), error.code, str(error), **extensions
        ) from error
    return UsageAccepted.of(result)


@router.get("/v1/dead-letters")
async def list_dead_letters(
    reader: DeadLetterSource, _: Authorized, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> DeadLetters:
    """The newest dead letters first: what ingest refused, from the bus and over HTTP, and the samples it
    held too long for a release it never heard (consumer "ingest-held-samples"); each with why."""
    rows = await reader.recent_dead_letters(limit)
    return DeadLetters(dead_letters=[DeadLetterOut.model_validate(row, from_attributes=True) for row in rows])


async def _read_body(request: Request, limit: int) -> tuple[bytes, bool]:
    """The body, or (its first bytes, True) once it is over `limit`: an oversize body is never read whole."""
    declared = request.headers.get("content-length", "")
    too_large = declared.isdigit() and int(declared) > limit
    keep = OVERSIZE_PREFIX_BYTES if too_large else limit
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > keep:
            return bytes(body[: min(keep, OVERSIZE_PREFIX_BYTES)]), True
    return bytes(body), too_large


def create_http_app(
    ingest: ExternalUsageIngest, dead_letters: DeadLetterReader, *, token: str, max_body_bytes: int
) -> FastAPI:
    app = FastAPI(
        telemetry=FASTAPI_NATIVE_TELEMETRY_OFF,
        title="aifactory ingest",
        version="1",
    )
    app.state.ingest = ingest
    app.state.dead_letters = dead_letters
    app.state.ingest_token = token
    app.state.max_body_bytes = max_body_bytes
    install_problem_handlers(app, INGEST_CODES)
    app.add_middleware(TracingMiddleware)
    app.include_router(router)
    return app
