"""Text no database can store is refused at the edge with its JSON path (shared/events/text.py)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from shared.events.text import json_text_problems, text_problem
from shared.http.body_guard import RequestBodyGuard
from shared.http.problems import install_problem_handlers


class Body(BaseModel):
    name: str
    tags: dict[str, list[str]] = {}


def text_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/things")
    async def create(body: Body) -> dict[str, str]:
        return {"name": body.name}

    app.add_middleware(RequestBodyGuard, max_body_bytes=1000)
    return app


async def post(body: bytes) -> httpx.Response:
    transport = httpx.ASGITransport(app=text_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.post("/things", content=body, headers={"Content-Type": "application/json"})


def test_the_rule_names_the_character_escaped_and_its_position() -> None:
    assert text_problem("ok \U0001f600") is None
    assert text_problem("a\x00") == "must not contain a NUL character (\\u0000, at position 1)"
    assert text_problem("ab\ud800") == "must not contain a lone surrogate (\\ud800, at position 2)"
    value = {"a": ["x", "y\x00"], "b\udfff": 1, "c": {"d": "\ud800"}}
    assert [path for path, _ in json_text_problems(value)] == ["a.1", "", "c.d"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"name": "a\\u0000"}', "name"),
        (b'{"name": "a\\ud800"}', "name"),
        (b'{"name": "a", "tags": {"k": ["ok", "\\udc00"]}}', "tags.k.1"),
        (b'{"name": "a", "tags": {"k\\u0000": []}}', "tags"),
        # A surrogate as raw bytes (CESU-8): json.loads decodes bytes with "surrogatepass".
        (b'{"name": "a\xed\xa0\x80"}', "name"),
    ],
)
async def test_bad_text_in_a_json_body_is_a_422_naming_its_path(body: bytes, field: str) -> None:
    response = await post(body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [(e["field"], e["in"]) for e in response.json()["errors"]] == [(field, "body")]


@pytest.mark.parametrize(
    "body", [b'{"name": "\\ud83d\\ude00"}', b'{"name": "\\\\u0000"}', b'{"name": "caf\xc3\xa9"}']
)
async def test_a_surrogate_pair_an_escaped_backslash_and_utf8_pass(body: bytes) -> None:
    assert (await post(body)).status_code == 200


async def test_a_body_nested_too_deeply_is_a_problem_not_a_500() -> None:
    for escape, status in ((b"\\u0000", 422), (b"\\u0041", 400)):  # the guard parses it, or the app does
        response = await post_deep(escape)
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
    assert "nested too deeply" in (await post_deep(b"\\u0000")).text


async def post_deep(escape: bytes) -> httpx.Response:
    transport = httpx.ASGITransport(app=text_app_with_limit(200_000))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        body = b"[" * 50_000 + b'"' + escape + b'"' + b"]" * 50_000
        return await client.post("/things", content=body, headers={"Content-Type": "application/json"})


async def test_an_ordinary_escape_is_left_to_the_app() -> None:
    response = await post(b'{"name": "caf\\u00e9"}')
    assert response.status_code == 200 and response.json() == {"name": "café"}


def text_app_with_limit(max_body_bytes: int) -> FastAPI:
    app = text_app()
    app.user_middleware.clear()
    app.add_middleware(RequestBodyGuard, max_body_bytes=max_body_bytes)
    return app
