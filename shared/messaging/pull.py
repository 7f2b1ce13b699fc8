"""A durable JetStream pull loop: low latency when idle, batches when a backlog builds up.

Idle, it long-polls for one message, so a new message is handled as soon as it lands. After that it
asks for up to `batch_size` more with a short wait, and goes back to the long poll once the stream is
drained. Messages are handed over in stream order; the handler acks them. The hot routes run on it: it
drained 15.3k msg/s where a FastStream pull subscriber that keeps stream order drained 1.4k msg/s
(bench/subscriber_transport.py; shared/messaging/subscriber.py has the whole comparison).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig
from nats.js.errors import NotFoundError

from shared.messaging.patience import patiently

log = logging.getLogger(__name__)

IDLE_POLL_S = 5.0
BURST_WAIT_S = 0.01


class DurableSpec(Protocol):
    """What a consumer spec tells the pull loop (ConsumerSpec and BatchConsumerSpec both do)."""

    @property
    def durable(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def batch_size(self) -> int: ...
    @property
    def max_deliveries(self) -> int: ...
    @property
    def stream_name(self) -> str: ...


# A low-rate durable's message is acked within milliseconds; one whose delivery went astray (a fetch that
# timed out as it arrived: seen once under a loaded full test run, the first registration of a fresh
# factory) comes back after this, not after a minute.
ORDERED_ACK_WAIT_S = 10.0


def durable_config(
    durable: str, max_deliver: int, batch_size: int, *, ordered: bool = False
) -> ConsumerConfig:
    """The durable's settings, whichever transport reads it. `ordered`: one message in flight at a
    time, so stream order holds even when a delivery is lost and redelivered."""
    return ConsumerConfig(
        durable_name=durable,
        ack_policy=AckPolicy.EXPLICIT,
        max_deliver=max_deliver,
        ack_wait=ORDERED_ACK_WAIT_S if ordered else 60,
        max_ack_pending=1 if ordered else max(1000, batch_size * 4),
    )


async def refilter(
    js: JetStreamContext, stream: str, durable: str, subject: str, *, ordered: bool = False
) -> None:
    """An existing durable that filters another subject (an older release's) is updated to ours, and an
    ordered one gets its one-in-flight settings: pull_subscribe would bind to it as it is."""
    try:
        info = await js.consumer_info(stream, durable)
    except NotFoundError:
        return
    config = info.config  # the rest as it is (an operator's settings)
    wanted = durable_config(durable, 1, 1, ordered=True) if ordered else None
    changed = config.filter_subject != subject or (
        wanted is not None
        and (config.max_ack_pending, config.ack_wait) != (wanted.max_ack_pending, wanted.ack_wait)
    )
    if changed:
        config.filter_subject = subject
        if wanted is not None:
            config.max_ack_pending, config.ack_wait = wanted.max_ack_pending, wanted.ack_wait
        await js.add_consumer(stream, config=config)


class PullLoop:
    def __init__(
        self,
        js: JetStreamContext,
        *,
        durable: str,
        stream: str,
        subject: str,
        batch_size: int,
        max_deliver: int,
        on_messages: Callable[[list[Msg]], Awaitable[None]],
    ) -> None:
        self._js = js
        self._durable = durable
        self._stream = stream
        self._subject = subject
        self._batch_size = batch_size
        self._max_deliver = max_deliver
        self._on_messages = on_messages
        self._task: asyncio.Task[None] | None = None
        # Python 3.11's wait_for (inside nats-py's fetch) can swallow a cancellation that lands as a
        # message arrives: the loop also stops at its next turn when told to.
        self._stopping = False

    @classmethod
    def for_spec(
        cls, js: JetStreamContext, spec: DurableSpec, on_messages: Callable[[list[Msg]], Awaitable[None]]
    ) -> PullLoop:
        # One delivery more than the handler's budget, so the last failure is dead-lettered, not dropped.
        return cls(
            js,
            durable=spec.durable,
            stream=spec.stream_name,
            subject=spec.subject,
            batch_size=spec.batch_size,
            max_deliver=spec.max_deliveries + 1,
            on_messages=on_messages,
        )

    async def start(self) -> None:
        config = durable_config(self._durable, self._max_deliver, self._batch_size)
        await patiently(
            lambda: refilter(self._js, self._stream, self._durable, self._subject),
            f"consumer {self._durable}",
        )
        self._subscription = await patiently(
            lambda: self._js.pull_subscribe(
                self._subject, durable=self._durable, stream=self._stream, config=config
            ),
            f"consumer {self._durable}",
        )
        self._task = asyncio.create_task(self._run(), name=f"consumer-{self._durable}")

    async def stop(self) -> None:
        if self._task:
            self._stopping = True
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._task), 10.0)
        with contextlib.suppress(Exception):
            await self._subscription.unsubscribe()

    async def _run(self) -> None:
        burst = False
        while not self._stopping:
            try:
                if burst:
                    messages = await self._subscription.fetch(self._batch_size, timeout=BURST_WAIT_S)
                else:
                    messages = await self._subscription.fetch(1, timeout=IDLE_POLL_S)
            except (TimeoutError, NatsTimeoutError):
                burst = False
                continue
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: fetch failed; retrying", self._durable)
                await asyncio.sleep(1.0)
                continue
            burst = True
            try:
                await self._on_messages(messages)
            except asyncio.CancelledError:
                raise
            except Exception:
                # Unacked messages come back after ack_wait; the loop must survive.
                log.exception("%s: handling a batch failed", self._durable)
