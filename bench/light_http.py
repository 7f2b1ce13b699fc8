"""A minimal HTTP/1.1 keep-alive JSON client for load generators.

The benchmarks run their load on the same 2-core machine as the factory they measure; httpx spent about
9 ms of CPU per request, more than some services, so the generator itself crowded what it measured.
This client does only what the benchmarks need: POST/GET with a JSON body over a small pool of
keep-alive connections, Content-Length responses (what uvicorn sends for JSON).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit


class HttpError(RuntimeError):
    pass


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def request(self, head: bytes, body: bytes) -> tuple[int, bytes]:
        self.writer.write(head + body)
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("connection closed by the server")
        status = int(status_line.split(b" ", 2)[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


class LightHttpClient:
    def __init__(self, base_url: str, headers: dict[str, str], connections: int = 16) -> None:
        parts = urlsplit(base_url)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self._fixed_headers = f"Host: {self._host}:{self._port}\r\n{extra}".encode()
        self._idle: asyncio.Queue[_Connection] = asyncio.Queue()
        self._size = connections
        self._opened = 0

    async def post_json(self, path: str, document: Any) -> tuple[int, Any]:
        return await self._send("POST", path, json.dumps(document).encode())

    async def get_json(self, path: str) -> tuple[int, Any]:
        return await self._send("GET", path, b"")

    async def _send(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        connection = await self._acquire()
        head = (
            f"{method} {path} HTTP/1.1\r\n".encode()
            + self._fixed_headers
            + f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        )
        try:
            status, payload = await connection.request(head, body)
        except BaseException:
            connection.close()
            self._opened -= 1
            raise
        self._idle.put_nowait(connection)
        return status, json.loads(payload) if payload else None

    async def _acquire(self) -> _Connection:
        if self._idle.empty() and self._opened < self._size:
            self._opened += 1
            try:
                reader, writer = await asyncio.open_connection(self._host, self._port)
            except BaseException:
                self._opened -= 1
                raise
            return _Connection(reader, writer)
        return await self._idle.get()

    async def close(self) -> None:
        while not self._idle.empty():
            self._idle.get_nowait().close()
