"""JetStream's management calls, tried again while the cluster cannot answer yet: a server just started,
a stream or consumer leader being elected, a busy machine. Without it a service exits at start-up on the
first time-out, though the same call succeeds a second later."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.errors import NoStreamResponseError, ServiceUnavailableError

log = logging.getLogger(__name__)

T = TypeVar("T")
# Not an answer yet, rather than a refusal: a refusal (bad request, not found) is raised at once.
NOT_YET = (
    NatsTimeoutError,
    NoRespondersError,
    NoStreamResponseError,
    ServiceUnavailableError,
    asyncio.TimeoutError,
)


async def patiently(call: Callable[[], Awaitable[T]], what: str, *, for_s: float = 120.0) -> T:
    """`call()` until it answers, for up to `for_s` seconds (then its last error is raised)."""
    deadline = time.monotonic() + for_s
    delay = 0.5
    while True:
        try:
            return await call()
        except NOT_YET as error:
            if time.monotonic() + delay > deadline:
                raise
            log.warning(
                "%s: JetStream did not answer (%s); trying again in %.1f s", what, type(error).__name__, delay
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
