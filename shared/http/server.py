"""uvicorn inside the ServiceHost's event loop, as one of its background tasks.

uvicorn's Server.capture_signals (0.29 and later, still in 0.54) installs SIGINT/SIGTERM handlers
with signal.signal, which would take the signals away from run_service: here the host owns the
signals and stops the server through stop(). The socket is bound here rather than by uvicorn, so that
port 0 works, the chosen port is known, and a taken port is a reported failure, not a process exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable, Iterator
from typing import TypeVar

import uvicorn
from starlette.types import ASGIApp

from shared.service import ServiceHost, run_service
from shared.settings import PlatformSettings

log = logging.getLogger(__name__)

Host = TypeVar("Host", bound=ServiceHost)


class _HostedUvicorn(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class HttpServer:
    """Serves one ASGI app on host:port until stop(); `serve` is the ServiceHost background task."""

    def __init__(
        self, build_app: Callable[[], ASGIApp], host: str, port: int, *, stop_timeout_s: float = 10.0
    ) -> None:
        self._build_app = build_app  # called in serve(), once the database the app may need exists
        self._host = host
        self._port = port
        self._stop_timeout_s = stop_timeout_s
        self._server: _HostedUvicorn | None = None
        self._listening = asyncio.Event()
        self._done = asyncio.Event()
        self._stopping = False
        self.failed = False
        # Called when serving ends without stop() (say, the port is taken); see run_http_service.
        self.on_failure: Callable[[], None] = lambda: None

    @property
    def started(self) -> bool:
        """Accepting requests (uvicorn's own flag stays set after it stops)."""
        return self._server is not None and self._server.started and not self._done.is_set()

    @property
    def port(self) -> int:
        """The port listened on (the one the OS chose when the setting is 0)."""
        if not self._listening.is_set():
            raise RuntimeError("the HTTP server is not listening yet")
        return self._port

    async def wait_listening(self, timeout_s: float = 10.0) -> None:
        """Return once listening; raise RuntimeError when serving ended first (the port was taken)."""
        waits = [asyncio.ensure_future(event.wait()) for event in (self._listening, self._done)]
        try:
            await asyncio.wait(waits, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
        if not self._listening.is_set():
            raise RuntimeError(f"the HTTP server is not listening on {self._host}:{self._port}")

    async def serve(self) -> None:
        try:
            if not self._stopping:
                await self._serve()
        finally:
            self._done.set()
        if not self._stopping:
            self.failed = True
            self.on_failure()

    async def _serve(self) -> None:
        sock = self._listen()
        if sock is None:
            return
        config = uvicorn.Config(
            self._build_app(),
            lifespan="off",
            access_log=False,
            log_config=None,  # keep the service's logging set-up
            timeout_graceful_shutdown=max(1, int(self._stop_timeout_s)),
        )
        self._server = _HostedUvicorn(config)
        self._listening.set()
        log.info("HTTP on http://%s:%d", self._host, self._port)
        try:
            await self._server.serve(sockets=[sock])
        except SystemExit:
            # uvicorn exits the process when it cannot start; that would skip the host's clean stop.
            log.error("the HTTP server on %s:%d could not start", self._host, self._port)
        finally:
            sock.close()

    def _listen(self) -> socket.socket | None:
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        try:
            sock = socket.create_server((self._host, self._port), family=family, backlog=2048)
        except OSError as error:
            log.critical("cannot listen on %s:%d: %s", self._host, self._port, error)
            return None
        self._port = sock.getsockname()[1]
        return sock

    async def stop(self) -> None:
        """Stop accepting, let in-flight requests finish (up to the timeout), then return."""
        self._stopping = True
        if self._server is None:
            return
        self._server.should_exit = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._done.wait(), self._stop_timeout_s)


def run_http_service(
    name: str, settings: PlatformSettings, build: Callable[[], Host], http: Callable[[Host], HttpServer]
) -> None:
    """run_service for a service that is useless without its HTTP edge: when the server cannot serve
    (say, its port is taken) the service stops cleanly, as on SIGTERM, and the process exits 1."""
    servers: list[HttpServer] = []

    def build_watched() -> Host:
        service = build()
        server = http(service)
        server.on_failure = lambda: os.kill(os.getpid(), signal.SIGTERM)
        servers.append(server)
        return service

    run_service(name, settings, build_watched)
    if any(server.failed for server in servers):
        sys.exit(1)
