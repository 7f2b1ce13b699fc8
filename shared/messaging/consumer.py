"""Idempotent JetStream consumers with dead letters.

Each message is handled in a PostgreSQL transaction that also records (consumer, event id); the
message is acked only after that commit, so a redelivered copy is acked with no effect. A message
that cannot be parsed, or whose handler raises what its route rejects (shared/messaging/routes.py), goes
to the dead-letter record at once; one whose handler keeps failing goes there after the maximum
deliveries. Either way the consumer keeps going.

When messages arrive faster than they are handled, the pull loop hands over a backlog: it is handled
in ONE transaction, in stream order (a commit per message cost more than most handlers). Should any
message in it fail, that transaction is rolled back and the backlog is handled again one message per
transaction, which isolates the failing message exactly as above.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from shared.db.pool import Database, Tx
from shared.events.base import Event
from shared.messaging.pull import PullLoop
from shared.messaging.routes import find_route, parse_body
from shared.messaging.specs import ConsumerSpec
from shared.telemetry import context_from_headers

log = logging.getLogger(__name__)
_TRACER = trace.get_tracer("aifactory.messaging")


async def record_dead_letter(
    tx: Tx, consumer: str, subject: str, payload: bytes, headers: Mapping[str, str], reason: str
) -> None:
    await tx.conn.execute(
        "INSERT INTO dead_letters (consumer, subject, event_id, reason, payload, headers) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        consumer,
        subject,
        headers.get("ce-id") or headers.get("Nats-Msg-Id"),
        reason,
        payload,
        dict(headers),
    )
    log.warning("dead letter on %s from %s: %s", consumer, subject, reason)


async def mark_processed(tx: Tx, consumer: str, event: Event) -> bool:
    """Record the event for this consumer; False when it was already processed."""
    inserted = await tx.conn.fetchval(
        "INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2) "
        "ON CONFLICT DO NOTHING RETURNING true",
        consumer,
        event.event_id,
    )
    return bool(inserted)


class Consumer:
    """A durable consumer handling `spec.routes` in stream order, on the raw nats-py pull loop."""

    def __init__(self, js: JetStreamContext, db: Database, spec: ConsumerSpec) -> None:
        self._db = db
        self._spec = spec
        self._loop = PullLoop.for_spec(js, spec, self._handle_all)

    async def start(self) -> None:
        await self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def _handle_all(self, messages: list[Msg]) -> None:
        if len(messages) > 1:
            try:
                await self._handle_together(messages)
            except Exception as error:
                log.info(
                    "%s: backlog of %d handled one by one (%r)", self._spec.durable, len(messages), error
                )
            else:
                for message in messages:
                    await message.ack()
                return
        for message in messages:
            await handle_message(self._db, self._spec, message)

    async def _handle_together(self, messages: list[Msg]) -> None:
        """All in one transaction; raises (rolling all of it back) if any message is not plain sailing."""
        async with self._db.transaction() as tx:
            for raw in messages:
                headers: dict[str, str] = dict(raw.headers or {})
                with _consumer_span(self._spec, raw, headers):
                    route = find_route(self._spec.routes, headers)
                    if route is None:
                        continue
                    event = parse_body(route.event_type, raw.data)
                    if await mark_processed(tx, self._spec.durable, event):
                        await route.handler(tx, event)


async def handle_message(db: Database, spec: ConsumerSpec, raw: Msg, *, traced: bool = False) -> None:
    """One message in its own transaction. `traced`: a middleware already continues the producer's trace
    (FastStream's), so the span is its child."""
    headers: dict[str, str] = dict(raw.headers or {})
    with _consumer_span(spec, raw, headers, traced=traced):
        await _handle(db, spec, raw, headers)


@contextmanager
def _consumer_span(
    spec: ConsumerSpec, raw: Msg, headers: dict[str, str], *, traced: bool = False
) -> Iterator[None]:
    # The span continues the producer's trace (traceparent header), so events emitted here carry it on.
    parent = None if traced else context_from_headers(headers)
    with _TRACER.start_as_current_span(
        f"{spec.durable} process", context=parent, kind=SpanKind.CONSUMER
    ) as span:
        span.set_attribute("messaging.destination.name", raw.subject)
        yield


async def _handle(db: Database, spec: ConsumerSpec, raw: Msg, headers: dict[str, str]) -> None:
    try:
        route = find_route(spec.routes, headers)
        event = None if route is None else parse_body(route.event_type, raw.data)
    except ValueError as error:
        await _dead_letter_and_ack(db, spec, raw, str(error))
        return
    if route is None or event is None:
        await raw.ack()  # a type this consumer does not handle
        return
    try:
        async with db.transaction() as tx:
            if await mark_processed(tx, spec.durable, event):
                await route.handler(tx, event)
    except Exception as error:
        if route.is_rejection(error):
            await _dead_letter_and_ack(db, spec, raw, f"rejected: {error}")
            return
        deliveries = raw.metadata.num_delivered if raw.metadata else 1
        if deliveries >= spec.max_deliveries:
            await _dead_letter_and_ack(db, spec, raw, f"failed {deliveries} times; last error: {error!r}")
        else:
            log.warning(
                "%s: %s failed (delivery %d), retrying: %r", spec.durable, raw.subject, deliveries, error
            )
            await raw.nak(delay=min(0.2 * 2**deliveries, 10.0))
    else:
        await raw.ack()


async def _dead_letter_and_ack(db: Database, spec: ConsumerSpec, raw: Msg, reason: str) -> None:
    async with db.transaction() as tx:
        await record_dead_letter(tx, spec.durable, raw.subject, raw.data, dict(raw.headers or {}), reason)
    await raw.ack()
