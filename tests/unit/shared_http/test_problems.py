"""The shared problem+json handlers and the body guard: what each bad request is answered with."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from asyncpg.exceptions import CannotConnectNowError
from fastapi import FastAPI, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from shared.http.body_guard import RequestBodyGuard
from shared.http.problems import (
    PROBLEM_JSON,
    FieldProblem,
    ProblemCodes,
    ProblemError,
    field_errors_json,
    install_problem_handlers,
    problem_response,
)

SNAKE = ProblemCodes(separator="_", invalid_input="invalid request")
MAX_BODY = 1024


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    replicas: int = Field(ge=1)


def build_app(codes: ProblemCodes | None = None) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app, codes)
    app.add_middleware(RequestBodyGuard, max_body_bytes=MAX_BODY, codes=codes)

    @app.post("/items")
    async def create(item: Item) -> dict[str, str]:
        return {"name": item.name}

    @app.get("/items")
    async def listing(limit: Annotated[int, Query(ge=1)] = 10) -> list[str]:
        return []

    @app.get("/teapot")
    async def teapot() -> None:
        raise ProblemError(
            418, "short_and_stout", "no coffee here", headers={"Retry-After": "60"}, errors=["one", "two"]
        )

    @app.get("/conflict")
    async def conflict() -> None:
        raise HTTPException(409, "the item changed meanwhile")

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    @app.get("/database-restarting")
    async def database_restarting() -> None:
        raise CannotConnectNowError("the database system is starting up")

    @app.get("/database-gone")
    async def database_gone() -> None:
        raise ConnectionRefusedError(111, "Connect call failed")

    @app.get("/database-socket-gone")
    async def database_socket_gone() -> None:
        raise FileNotFoundError(2, "No such file or directory")  # a Unix socket's server is down

    @app.get("/file-missing")
    def file_missing() -> None:
        Path("/nonexistent/aifactory-file").read_text()  # a bug of ours, not the database's absence

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with _client(build_app()) as client:
        yield client


def _client(app: FastAPI) -> httpx.AsyncClient:
    # The 500 handler answers, then Starlette re-raises for the server's log; the client sees the answer.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


def problem_of(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["code"] == code
    assert body["type"] == f"urn:aifactory:problem:{code}"
    assert body["title"] and body["detail"]
    return body


def test_a_problem_body_has_every_member_and_the_extensions() -> None:
    errors = field_errors_json([FieldProblem("spec.replicas", "must be 1 or more")])
    response = problem_response(422, "invalid-input", "spec.replicas: must be 1 or more", errors=errors)
    assert response.media_type == PROBLEM_JSON and response.status_code == 422
    assert bytes(response.body) == (
        b'{"type":"urn:aifactory:problem:invalid-input","title":"Invalid input","status":422,'
        b'"detail":"spec.replicas: must be 1 or more","code":"invalid-input",'
        b'"errors":[{"field":"spec.replicas","in":"body","message":"must be 1 or more"}]}'
    )


async def test_a_raised_problem_keeps_its_headers_and_extensions(client: httpx.AsyncClient) -> None:
    response = await client.get("/teapot")
    body = problem_of(response, 418, "short_and_stout")
    assert body["title"] == "Short and stout" and body["errors"] == ["one", "two"]
    assert response.headers["retry-after"] == "60"


async def test_every_invalid_field_is_listed(client: httpx.AsyncClient) -> None:
    response = await client.post("/items", json={"replicas": 0, "colour": "red"})
    body = problem_of(response, 422, "invalid-input")
    assert body["title"] == "Invalid input"
    assert {(e["field"], e["in"]) for e in body["errors"]} == {
        ("name", "body"),
        ("replicas", "body"),
        ("colour", "body"),
    }
    assert "replicas: Input should be greater than or equal to 1" in body["detail"]


async def test_a_query_error_names_where_the_field_is(client: httpx.AsyncClient) -> None:
    body = problem_of(await client.get("/items?limit=0"), 422, "invalid-input")
    assert body["errors"][0]["in"] == "query" and body["errors"][0]["field"] == "limit"
    assert body["detail"].startswith("query.limit: ")


async def test_a_missing_body_is_named_as_such(client: httpx.AsyncClient) -> None:
    response = await client.post("/items", headers={"Content-Type": "application/json"})
    body = problem_of(response, 422, "invalid-input")
    assert body["errors"] == [
        {"field": "body", "in": "body", "message": "the request needs a JSON object body"}
    ]


async def test_malformed_json_is_a_400_naming_the_position(client: httpx.AsyncClient) -> None:
    response = await client.post("/items", content=b'{"name": ', headers={"Content-Type": "application/json"})
    body = problem_of(response, 400, "malformed-json")
    assert body["title"] == "Malformed JSON"
    assert (
        body["detail"].startswith("the request body is not valid JSON") and "at character 9" in body["detail"]
    )


async def test_unknown_routes_and_methods_say_what_was_asked(client: httpx.AsyncClient) -> None:
    missing = problem_of(await client.get("/nothing"), 404, "not-found")
    assert missing["title"] == "Not found" and missing["detail"] == "no resource at /nothing"
    method = problem_of(await client.delete("/items"), 405, "method-not-allowed")
    assert method["detail"] == "DELETE is not allowed on /items"


async def test_an_http_error_keeps_its_own_detail(client: httpx.AsyncClient) -> None:
    body = problem_of(await client.get("/conflict"), 409, "conflict")
    assert body["detail"] == "the item changed meanwhile"


async def test_an_unexpected_error_is_a_500_problem_without_the_cause(client: httpx.AsyncClient) -> None:
    body = problem_of(await client.get("/boom"), 500, "internal-error")
    assert "a bug" not in body["detail"]


@pytest.mark.parametrize("path", ["/database-restarting", "/database-gone", "/database-socket-gone"])
async def test_a_database_out_of_reach_is_a_503_to_try_again(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    body = problem_of(response, 503, "unavailable")
    assert response.headers["Retry-After"] == "1"
    assert "try again" in body["detail"] and "starting up" not in body["detail"]


async def test_a_file_of_our_own_missing_is_still_a_500(client: httpx.AsyncClient) -> None:
    problem_of(await client.get("/file-missing"), 500, "internal-error")


async def test_codes_follow_the_services_spelling() -> None:
    async with _client(build_app(SNAKE)) as client:
        problem_of(await client.get("/nothing"), 404, "not_found")
        invalid = problem_of(await client.get("/items?limit=0"), 422, "invalid_request")
        assert invalid["title"] == "Invalid request"
        oversize = await client.post(
            "/items", content=b"x" * (MAX_BODY + 1), headers={"Content-Type": "application/json"}
        )
        problem_of(oversize, 413, "content_too_large")


@pytest.mark.parametrize(
    ("headers", "content", "status", "code", "detail"),
    [
        (
            {"Content-Type": "application/json"},
            b"x" * (MAX_BODY + 1),
            413,
            "content-too-large",
            f"limit of {MAX_BODY} bytes",
        ),
        ({"Content-Type": "text/plain"}, b"{}", 415, "unsupported-media-type", "not text/plain"),
        ({"Content-Type": "application/json", "Content-Length": "lots"}, b"{}", 400, "bad-request", "'lots'"),
    ],
)
async def test_the_guard_refuses_before_any_handler(
    client: httpx.AsyncClient, headers: dict[str, str], content: bytes, status: int, code: str, detail: str
) -> None:
    body = problem_of(await client.post("/items", content=content, headers=headers), status, code)
    assert detail in body["detail"]


async def test_the_guard_counts_bytes_a_chunked_body_did_not_declare(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(4):
            yield b" " * 400

    response = await client.post("/items", content=chunks(), headers={"Content-Type": "application/json"})
    assert "limit of 1024 bytes" in problem_of(response, 413, "content-too-large")["detail"]


async def test_a_json_body_of_another_json_media_type_passes_the_guard(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/items",
        content=b'{"name": "a", "replicas": 1}',
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert response.status_code == 200 and response.json() == {"name": "a"}
