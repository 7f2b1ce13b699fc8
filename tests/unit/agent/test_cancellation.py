"""A retrying loop ends when cancelled, even when a library turned the cancellation into an error."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from services.agent.app.agent import every
from services.agent.app.cancellation import raise_if_cancelled


async def test_a_swallowed_cancellation_is_raised_again() -> None:
    entered = asyncio.Event()

    async def retrying_loop() -> None:
        while True:
            try:
                entered.set()
                try:
                    await asyncio.sleep(10)
                except asyncio.CancelledError:
                    raise TimeoutError("a library's view of the cancel") from None
            except TimeoutError:
                raise_if_cancelled()

    task = asyncio.create_task(retrying_loop())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=2)


async def test_nothing_happens_without_a_cancellation() -> None:
    raise_if_cancelled()


async def test_a_periodic_loop_ends_even_when_its_step_swallows_the_cancel() -> None:
    entered = asyncio.Event()

    async def swallowing_step() -> None:
        # As asyncio.wait_for on 3.11 can do when the result and the cancel arrive together.
        entered.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(10)

    task = asyncio.create_task(every(0.001, swallowing_step, "test"))
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=2)
