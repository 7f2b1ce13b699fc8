"""Raw HTTP receivers on 127.0.0.1 for webhook limit tests: one that answers at once, one that trickles
its answer (a byte at a time), one that floods it. Each keeps what the tests measure: when requests
arrived, how many connections were open at once, and when the sender hung up."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

Answer = Callable[[asyncio.StreamReader, asyncio.StreamWriter, "Receiver"], Awaitable[None]]


@dataclass
class Receiver:
    url: str = ""
    arrivals: list[float] = field(default_factory=list)  # time.monotonic() of each request's head
    open_now: int = 0
    most_at_once: int = 0
    hung_up: list[float] = field(default_factory=list)  # time.monotonic() when the sender closed


@contextlib.asynccontextmanager
async def receiving(answer: Answer) -> AsyncIterator[Receiver]:
    received = Receiver()
    handlers: set[asyncio.Task[None]] = set()
    writers: set[asyncio.StreamWriter] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        writers.add(writer)
        received.open_now += 1
        received.most_at_once = max(received.most_at_once, received.open_now)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                ),
                0,
            )
            await reader.readexactly(length)
            received.arrivals.append(time.monotonic())
            await answer(reader, writer, received)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            received.open_now -= 1
            received.hung_up.append(time.monotonic())
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    received.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hooks"
    try:
        yield received
    finally:
        server.close()
        # Hang up on whoever is still connected, and let each handler end on that (a cancelled handler
        # would have asyncio log an error).
        for writer in writers:
            writer.transport.abort()
        if handlers:
            await asyncio.wait(handlers, timeout=5)


async def at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, received: Receiver) -> None:
    writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    await writer.drain()


def trickling(every_s: float, in_head: bool = False) -> Answer:
    """A 200 whose bytes come one at a time, `every_s` apart: in the head, or in a 1,000-byte body.
    Each byte is sooner than a per-read timeout; the whole answer takes far longer than any deadline."""
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, received: Receiver) -> None:
        if not in_head:
            writer.write(head)
        for byte in (head if in_head else b"") + b"x" * 1000:
            # A sender that hung up ends the wait at once (read answers b"" at end of stream).
            with contextlib.suppress(TimeoutError):
                if await asyncio.wait_for(reader.read(1), every_s) == b"":
                    return
            writer.write(bytes([byte]))
            await writer.drain()

    return answer


def flooding(status: int, chunk: int = 64 * 1024, every_s: float = 0.01) -> Answer:
    """An endless chunked body, `chunk` bytes every `every_s`, until the sender hangs up."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, received: Receiver) -> None:
        writer.write(f"HTTP/1.1 {status} Whatever\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
        while not writer.is_closing():
            writer.write(f"{chunk:x}\r\n".encode() + b"x" * chunk + b"\r\n")
            await writer.drain()
            await asyncio.sleep(every_s)

    return answer
