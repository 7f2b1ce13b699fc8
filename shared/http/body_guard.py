"""Refuses, as problem+json and before any handler runs: oversize and non-JSON request bodies, and text
no database can store (a NUL or a lone surrogate, shared/events/text.py) in the JSON body, the query
or the path."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.events.text import json_text_problems, text_problem
from shared.http.problems import (
    FieldProblem,
    ProblemCodes,
    invalid_input_response,
    problem_response,
    status_title,
)

_BODY_METHODS = {"POST", "PUT", "PATCH"}


class RequestBodyGuard:
    """ASGI middleware for a JSON API.

    The size is checked twice: on the declared Content-Length before reading anything, and on the bytes
    actually received, because a chunked or lying client declares nothing or too little. A JSON body is
    read whole (it is bounded by the size) and looked through for bad text before the app gets it.
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
        refusal = self._refusal(scope) or self._url_text_refusal(scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        if scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left before sending its body: nobody to answer
            body.extend(message.get("body", b""))
            if len(body) > self.max_body_bytes:
                await self._refuse(413, self._too_large())(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        refusal = self._body_text_refusal(bytes(body))
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, _replay(bytes(body), receive), send)

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

    def _url_text_refusal(self, scope: Scope) -> Response | None:
        # Percent-decoding gives U+FFFD for bytes that are not UTF-8, so only a NUL (%00) can get through.
        problems = []
        path_problem = text_problem(scope["path"])
        if path_problem is not None:
            problems.append(FieldProblem("path", path_problem, "path"))
        query: bytes = scope.get("query_string", b"")
        if b"%00" in query:
            for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
                problem = text_problem(name) or text_problem(value)
                if problem is not None:
                    problems.append(FieldProblem(name.replace("\x00", "\\u0000"), problem, "query"))
        return invalid_input_response(problems, self.codes) if problems else None

    def _body_text_refusal(self, body: bytes) -> Response | None:
        if not _SUSPECT_ESCAPE.search(body) and _is_utf8(body):
            # A NUL or a surrogate comes in as its \u escape, or as bytes json.loads decodes with
            # "surrogatepass" (ED A0 80 is U+D800), never in strict UTF-8: any other body is parsed
            # once, by the app.
            return None
        try:
            value = json.loads(body)
            found = json_text_problems(value)
        except ValueError:
            return None  # the app answers malformed JSON, saying where
        except RecursionError:  # a body of nested brackets: refused here, before the app parses it
            return invalid_input_response([FieldProblem("body", "is nested too deeply")], self.codes)
        problems = [FieldProblem(path or "body", problem) for path, problem in found]
        return invalid_input_response(problems, self.codes) if problems else None


# \u0000 and \ud800-\udfff, as JSON escapes write them (either case).
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body already read, then whatever the client sends next (a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))
