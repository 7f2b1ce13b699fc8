"""uvicorn inside the ServiceHost's event loop, as one of its background tasks.

uvicorn (0.29 and later) installs SIGINT/SIGTERM handlers with signal.signal in Server.capture_signals,
which would take the signals away from run_service; here the host owns the signals and stops the
server through stop().
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable, Iterator

import uvicorn
from fastapi import FastAPI

log = logging.getLogger(__name__)


class _HostedUvicorn(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class HttpServer:
    def __init__(
        self, build_app: Callable[[], FastAPI], host: str, port: int, *, stop_timeout_s: float = 10.0
    ):
        self._build_app = build_app  # called at run(), once the database the app needs exists
        self._host = host
        self._port = port
        self._stop_timeout_s = stop_timeout_s
        self._server: _HostedUvicorn | None = None
        self._listening = asyncio.Event()
        self._stopped = asyncio.Event()

    @property
    def port(self) -> int:
        """The port listened on (the one the OS chose when the setting is 0); valid once listening."""
        return self._port

    async def wait_listening(self, timeout_s: float = 10.0) -> None:
        await asyncio.wait_for(self._listening.wait(), timeout_s)

    async def run(self) -> None:
        """Listen and serve until stop(); a port already taken ends the process (uvicorn's SystemExit)."""
        try:
            sock = self._listen()
            config = uvicorn.Config(
                self._build_app(),
                host=self._host,
                port=self._port,
                lifespan="off",
                access_log=False,
                log_config=None,  # keep the service's logging set-up
                timeout_graceful_shutdown=int(self._stop_timeout_s),
            )
            self._server = _HostedUvicorn(config)
            self._listening.set()
            log.info("ingest HTTP API on http://%s:%d", self._host, self._port)
            await self._server.serve(sockets=[sock])
        finally:
            self._stopped.set()

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.should_exit = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopped.wait(), self._stop_timeout_s)

    def _listen(self) -> socket.socket:
        # Bound here rather than by uvicorn so that port 0 works and the chosen port is known.
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        try:
            sock = socket.create_server((self._host, self._port), family=family, backlog=2048)
        except OSError as error:
            log.critical("ingest cannot listen on %s:%d: %s", self._host, self._port, error)
            raise SystemExit(1) from error
        self._port = sock.getsockname()[1]
        return sock
