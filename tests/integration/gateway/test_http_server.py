"""The embedded uvicorn: serving on a real port inside the service, and failing loudly when it cannot."""

from __future__ import annotations

import asyncio
import socket

import httpx
from fastapi import FastAPI

from services.gateway.adapters.http.server import EmbeddedHttpServer
from tests.integration.gateway.conftest import OPERATOR, Gateway, eventually


async def test_the_service_serves_http_on_a_real_port(gateway: Gateway) -> None:
    await eventually(lambda: asyncio.sleep(0, result=gateway.service.http.started), bool)
    port = gateway.service.http.bound_port
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        created = await client.post("/v1/tenants", json={"name": "over-tcp"}, headers=OPERATOR)
        assert created.status_code == 201
        spec = (await client.get("/openapi.json")).json()
        assert "/v1/jobs/{job_id}/cancel" in spec["paths"]


async def test_a_taken_port_is_reported_as_a_failure_not_a_process_exit() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = EmbeddedHttpServer(FastAPI(), "127.0.0.1", taken.getsockname()[1])
        failures: list[str] = []
        server.on_failure = lambda: failures.append("failed")
        await asyncio.wait_for(server.serve(), timeout=10)
    assert server.failed and failures == ["failed"]


async def test_stop_ends_serving_without_a_failure() -> None:
    server = EmbeddedHttpServer(FastAPI(), "127.0.0.1", 0)
    serving = asyncio.create_task(server.serve())
    await eventually(lambda: asyncio.sleep(0, result=server.started), bool)
    await server.stop()
    await asyncio.wait_for(serving, timeout=10)
    assert not server.failed
