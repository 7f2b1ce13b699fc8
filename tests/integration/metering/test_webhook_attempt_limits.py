"""Each webhook attempt has a deadline for the whole exchange and reads a bounded answer (adapters/
sender.py), against real receivers on 127.0.0.1: a trickling receiver is cut at the deadline though
each of its bytes comes sooner than a per-read timeout, and a flood is read no further than the cap."""

from __future__ import annotations

import asyncio
import time

import pytest

from services.metering.webhooks.adapters.destinations import MAX_ERROR_CHARS
from services.metering.webhooks.adapters.dispatcher import HttpxWebhookSender
from services.metering.webhooks.app.ports import AttemptResult
from tests.integration.metering.webhook_receivers import flooding, receiving, trickling

DEADLINE_S = 1.0


async def timed_send(sender: HttpxWebhookSender, url: str) -> tuple[AttemptResult, float]:
    started = time.monotonic()
    try:
        # A bound of the test's own, so that a sender without the limit fails here instead of hanging.
        result = await asyncio.wait_for(sender.send(url, {"Content-Type": "application/json"}, b"{}"), 6.0)
    finally:
        await sender.close()
    return result, time.monotonic() - started


@pytest.mark.parametrize("in_head", [False, True], ids=["trickled-body", "trickled-head"])
async def test_a_receiver_that_trickles_its_answer_is_cut_at_the_deadline(in_head: bool) -> None:
    # A byte every 0.3 s: no read ever waits a whole second, yet the answer would take minutes.
    async with receiving(trickling(0.3, in_head)) as slow:
        result, took = await timed_send(HttpxWebhookSender(DEADLINE_S, allow_internal=True), slow.url)
        await asyncio.sleep(0.1)  # the receiver sees the hang-up

    assert DEADLINE_S * 0.9 <= took < DEADLINE_S + 0.8
    assert result.status_code is None
    assert result.error == "no complete answer within the attempt's deadline of 1 s"
    assert DEADLINE_S * 900 <= result.duration_ms < (DEADLINE_S + 0.8) * 1000
    assert len(slow.hung_up) == 1 and slow.hung_up[0] - slow.arrivals[0] < DEADLINE_S + 0.5


async def test_a_refusal_with_an_endless_body_is_read_only_up_to_the_cap() -> None:
    async with receiving(flooding(503)) as flood:
        result, took = await timed_send(
            HttpxWebhookSender(5.0, allow_internal=True, max_response_bytes=64 * 1024), flood.url
        )
        for _ in range(40):  # the sender hung up: the receiver's writes fail soon after
            if flood.hung_up:
                break
            await asyncio.sleep(0.05)

    assert took < 2.0
    assert result.status_code == 503
    assert result.error == ("HTTP 503: " + "x" * MAX_ERROR_CHARS)[:MAX_ERROR_CHARS]
    assert flood.hung_up and flood.hung_up[0] - flood.arrivals[0] < 3.0


async def test_a_success_with_an_endless_body_is_delivered_without_reading_it_all() -> None:
    async with receiving(flooding(200)) as flood:
        result, took = await timed_send(HttpxWebhookSender(5.0, allow_internal=True), flood.url)

    assert took < 2.0
    assert (result.status_code, result.error) == (200, None)
