"""uvicorn inside the service's own event loop, as one of the ServiceHost's background tasks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator

import uvicorn
from fastapi import FastAPI

log = logging.getLogger(__name__)


class _EmbeddedUvicorn(uvicorn.Server):
    """uvicorn.Server.serve() wraps itself in capture_signals(), which replaces the SIGINT/SIGTERM handlers
    with signal.signal (uvicorn >= 0.29); run_service's loop handlers must stay in charge instead."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class EmbeddedHttpServer:
    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
        self._server = _EmbeddedUvicorn(config)
        self._where = f"{host}:{port}"
        self._done = asyncio.Event()
        self._stopping = False
        self.failed = False
        # Called when serving ends without stop() (say, the port is taken); main() stops the process.
        self.on_failure: Callable[[], None] = lambda: None

    async def serve(self) -> None:
        try:
            await self._server.serve()
        except SystemExit:
            # uvicorn exits the process when it cannot start; that would skip the host's clean stop.
            log.error("the HTTP server could not start on %s", self._where)
        finally:
            self._done.set()
        if not self._stopping:
            self.failed = True
            self.on_failure()

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Stop accepting, let in-flight requests finish (up to the timeout), then return."""
        self._stopping = True
        self._server.should_exit = True
        if self._server.started:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._done.wait(), timeout_s)

    @property
    def started(self) -> bool:
        return self._server.started

    @property
    def bound_port(self) -> int:
        """The port actually bound (differs from the configured one when that was 0)."""
        if not self._server.started:
            raise RuntimeError("the HTTP server has not started")
        socket = self._server.servers[0].sockets[0]
        return int(socket.getsockname()[1])
