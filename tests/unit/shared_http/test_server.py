"""The hosted uvicorn on real local sockets: port 0, the signals it leaves alone, a taken port, stop."""

from __future__ import annotations

import asyncio
import signal
import socket

import httpx
import pytest
from fastapi import FastAPI

from shared.http.server import HttpServer


def hello_app() -> FastAPI:
    app = FastAPI()

    @app.get("/hello")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    return app


async def test_port_zero_serves_on_the_port_the_os_chose_and_stops_cleanly() -> None:
    server = HttpServer(hello_app, "127.0.0.1", 0)
    sigint_before = signal.getsignal(signal.SIGINT)
    serving = asyncio.create_task(server.serve())
    await server.wait_listening()
    assert server.port > 0
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
        assert (await client.get("/hello")).json() == {"hello": "world"}
    assert server.started
    # uvicorn's own capture_signals would have replaced it; the service host must keep the signals.
    assert signal.getsignal(signal.SIGINT) is sigint_before
    await server.stop()
    await asyncio.wait_for(serving, timeout=10)
    assert not server.failed and not server.started


async def test_a_taken_port_is_reported_as_a_failure_not_a_process_exit() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = HttpServer(hello_app, "127.0.0.1", taken.getsockname()[1])
        failures: list[str] = []
        server.on_failure = lambda: failures.append("failed")
        await asyncio.wait_for(server.serve(), timeout=10)
    assert server.failed and failures == ["failed"]
    with pytest.raises(RuntimeError, match="not listening"):
        await server.wait_listening()


async def test_stop_before_serving_means_nothing_is_served_and_nothing_failed() -> None:
    built: list[FastAPI] = []

    def build() -> FastAPI:
        built.append(hello_app())
        return built[-1]

    server = HttpServer(build, "127.0.0.1", 0)
    await server.stop()
    await asyncio.wait_for(server.serve(), timeout=10)
    assert not server.failed and built == []
    with pytest.raises(RuntimeError):
        server.port  # noqa: B018
