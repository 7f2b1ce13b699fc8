"""A batch variant of the idempotent consumer, for high-volume streams (usage events).

A batch of messages is handled in ONE transaction: the event ids are recorded in processed_events in
bulk, and the handler receives only the events not seen before, in stream order; every message is acked
after commit. If the batch fails, its messages are retried one by one through the single-message path,
so one poison message is dead-lettered alone and the rest still take effect. (Events that cannot take
effect yet are the handler's to set aside: metering's usage waits in a table of its own.)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from nats.aio.msg import Msg
from nats.js import JetStreamContext

from shared.db.pool import Database, Tx
from shared.events.base import Event
from shared.messaging.consumer import handle_message, record_dead_letter
from shared.messaging.pull import PullLoop
from shared.messaging.routes import parse_event
from shared.messaging.specs import BatchConsumerSpec

log = logging.getLogger(__name__)


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
        try:
            await self._process_batch(messages)
        except Exception as error:
            log.warning(
                "%s: batch of %d failed (%r); retrying one by one", self._spec.durable, len(messages), error
            )
            for message in messages:
                await handle_message(self._db, self._single, message)
            return
        # One after the other: an ack only queues a publish, and a task per message would cost more.
        for message in messages:
            await message.ack()

    async def _process_batch(self, messages: Sequence[Msg]) -> None:
        event_types = self._spec.route.event_types
        events: list[Event] = []
        async with self._db.transaction() as tx:
            for message in messages:
                headers = message.headers or {}
                try:
                    event = parse_event(event_types, headers, message.data)
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
                await self._spec.route.handler(tx, events)


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
