"""Refuses oversize and non-JSON request bodies before any handler runs, as problem+json."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.http.problems import ProblemCodes, problem_response, status_title

_BODY_METHODS = {"POST", "PUT", "PATCH"}


class RequestBodyGuard:
    """ASGI middleware for a JSON API.

    The size is checked twice: on the declared Content-Length before reading anything, and on the bytes
    actually received, because a chunked or lying client declares nothing or too little.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int, codes: ProblemCodes | None = None) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.codes = codes or ProblemCodes()

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

    def _refuse(self, status: int, detail: str) -> Response:
        title = status_title(status)
        return problem_response(status, self.codes.code(title), detail, title=title)

    def _refusal(self, scope: Scope) -> Response | None:
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        length = 0
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                return self._refuse(400, f"Content-Length {declared!r} is not a number")
            if length > self.max_body_bytes:
                return self._refuse(413, self._too_large())
        has_body = length > 0 or "chunked" in headers.get("transfer-encoding", "")
        content_type = headers.get("content-type", "")
        if scope["method"] in _BODY_METHODS and has_body and not _is_json(content_type):
            return self._refuse(
                415, f"send the body as application/json, not {content_type or 'no Content-Type'}"
            )
        return None


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))
