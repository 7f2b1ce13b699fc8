"""Webhook destinations inside the platform's network are refused unless the operator allows them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from services.metering.webhooks.adapters.dispatcher import HttpxWebhookSender

RESPONSE = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[bytes]]]:
    """A local HTTP receiver that records each request's first line."""
    requests: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        requests.append(await reader.readline())
        writer.write(RESPONSE)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://localhost:{port}/hooks", requests
    server.close()
    await server.wait_closed()


async def test_a_receiver_on_an_internal_address_is_refused_without_a_request(
    receiver: tuple[str, list[bytes]],
) -> None:
    url, requests = receiver
    sender = HttpxWebhookSender(2.0)
    try:
        result = await sender.send(url, {"Content-Type": "application/json"}, b"{}")
    finally:
        await sender.close()

    assert result.status_code is None
    assert result.error is not None
    assert result.error.startswith("refused: localhost resolves to ")
    assert "a loopback address" in result.error and "AIFACTORY_WEBHOOK_ALLOW_INTERNAL" in result.error
    assert requests == []


async def test_the_operator_can_allow_internal_receivers(receiver: tuple[str, list[bytes]]) -> None:
    url, requests = receiver
    sender = HttpxWebhookSender(2.0, allow_internal=True)
    try:
        result = await sender.send(url, {"Content-Type": "application/json"}, b"{}")
    finally:
        await sender.close()

    assert (result.status_code, result.error) == (204, None)
    assert requests == [b"POST /hooks HTTP/1.1\r\n"]


async def test_a_host_that_does_not_resolve_is_a_failed_attempt() -> None:
    sender = HttpxWebhookSender(2.0)
    try:
        result = await sender.send("http://no-such-host.invalid/hooks", {}, b"{}")
    finally:
        await sender.close()

    assert result.status_code is None and result.error is not None
    assert result.error.startswith("cannot resolve 'no-such-host.invalid'")
