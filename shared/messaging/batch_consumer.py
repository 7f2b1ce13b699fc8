"""A batch variant of the idempotent consumer, for high-volume streams (usage events).

A batch of messages is handled in ONE transaction: the event ids are recorded in processed_events in
bulk, and the handler receives only the events not seen before, in stream order; every message is acked
after commit. If the batch fails, its messages are retried one by one through the single-message path,
so one poison message is dead-lettered alone and the rest still take effect.

A handler that knows which events cannot take effect yet (a tenant not known yet, say) raises HoldBack
with their ids: the batch is then committed without them, and only they go the single-message way
(retried with backoff, dead-lettered after the maximum deliveries), so that a few early events do not
send a whole batch down the slow path on every redelivery.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from nats.aio.msg import Msg
from nats.js import JetStreamContext

from shared.db.pool import Database, Tx
from shared.events.base import Event
from shared.messaging.consumer import ConsumerSpec, handle_message, parse_event, record_dead_letter
from shared.messaging.pull import PullLoop
from shared.messaging.streams import StreamDef

log = logging.getLogger(__name__)

BatchHandler = Callable[[Tx, list[Any]], Awaitable[None]]


class HoldBack(Exception):
    """Raised by a batch handler: these events cannot take effect yet; the rest of the batch can."""

    def __init__(self, event_ids: Collection[UUID], reason: str) -> None:
        super().__init__(reason)
        self.event_ids = frozenset(str(event_id) for event_id in event_ids)


@dataclass(frozen=True)
class BatchConsumerSpec:
    durable: str
    stream: StreamDef
    subject: str
    event_types: tuple[type[Event], ...]
    handler: BatchHandler
    batch_size: int = 500
    max_deliveries: int = 5
    # False for a handler that dedupes on a key of its own (a natural key, stronger than the event id):
    # recording each event id as well would only add a row per event.
    dedupe_by_event_id: bool = True

    @property
    def stream_name(self) -> str:
        return self.stream.name

    def single(self) -> ConsumerSpec:
        """The same consumer, one message at a time (the fallback that isolates a poison message)."""

        async def one(tx: Tx, event: Event) -> None:
            await self.handler(tx, [event])

        return ConsumerSpec(
            durable=self.durable,
            stream=self.stream,
            subject=self.subject,
            routes=dict.fromkeys(self.event_types, one),
            max_deliveries=self.max_deliveries,
        )


class BatchConsumer:
    def __init__(self, js: JetStreamContext, db: Database, spec: BatchConsumerSpec) -> None:
        self._db = db
        self._spec = spec
        self._single = spec.single()
        self._loop = PullLoop.for_spec(js, spec, self.process)

    async def start(self) -> None:
        await self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def process(self, messages: Sequence[Msg]) -> None:
        batch, held = list(messages), []
        while True:
            try:
                await self._process_batch(batch)
                break
            except HoldBack as hold:
                rest = [message for message in batch if _event_id(message) not in hold.event_ids]
                if len(rest) < len(batch):
                    held += [message for message in batch if _event_id(message) in hold.event_ids]
                    batch = rest
                    continue
                error: Exception = hold  # it named none of the batch's events
            except Exception as failure:
                error = failure
            log.warning(
                "%s: batch of %d failed (%r); retrying one by one", self._spec.durable, len(batch), error
            )
            held, batch = held + batch, []
            break
        # One after the other: an ack only queues a publish, and a task per message would cost more.
        for message in batch:
            await message.ack()
        for message in held:
            await handle_message(self._db, self._single, message)

    async def _process_batch(self, messages: Sequence[Msg]) -> None:
        routes = self._single.routes
        events: list[Event] = []
        async with self._db.transaction() as tx:
            for message in messages:
                headers = message.headers or {}
                try:
                    event = parse_event(routes, headers, message.data)
                except ValueError as error:
                    await record_dead_letter(
                        tx,
                        self._spec.durable,
                        message.subject,
                        message.data,
                        headers,
                        str(error),
                    )
                    continue
                if event is not None:
                    events.append(event)
            if self._spec.dedupe_by_event_id:
                events = await _record_processed(tx, self._spec.durable, events)
            if events:
                await self._spec.handler(tx, events)


async def _record_processed(tx: Tx, consumer: str, events: list[Event]) -> list[Event]:
    """Record the ids; return the events not processed before (first copy only), in order."""
    if not events:
        return []
    rows = await tx.conn.fetch(
        "INSERT INTO processed_events (consumer, event_id) SELECT $1, unnest($2::uuid[]) "
        "ON CONFLICT DO NOTHING RETURNING event_id",
        consumer,
        [event.event_id for event in events],
    )
    new_ids = {row["event_id"] for row in rows}
    fresh: list[Event] = []
    for event in events:
        if event.event_id in new_ids:
            new_ids.discard(event.event_id)  # a duplicate inside the batch counts once
            fresh.append(event)
    return fresh


def _event_id(message: Msg) -> str | None:
    headers = message.headers or {}
    return headers.get("ce-id") or headers.get("Nats-Msg-Id")
