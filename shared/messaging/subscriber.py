"""Low-rate durables on FastStream: a JetStream pull subscriber, with the broker's OpenTelemetry
middleware (a `messaging` process span and the consume metrics) around the idempotent handling.

A message is handled exactly as the raw pull loop's consumer handles one (shared/messaging/consumer.py):
inbox row and effect in one transaction, ack after commit, dead letters. FastStream acks nothing itself
(AckPolicy.MANUAL) and fetches one message at a time, and the durable lets one message be in flight
(max_ack_pending 1), so the stream order holds even when a delivery goes astray (it comes back after
ORDERED_ACK_WAIT_S).

Why only the low-rate ones, measured with `python bench/subscriber_transport.py --messages 5000
--singles 200` on a local nats-server (2-core box, each message acked, FastStream with its telemetry
middleware): draining a backlog, the raw pull loop did 15.3k msg/s and this subscriber 1.4k msg/s (one
fetch round trip per message; the pull loop fetches bursts and hands a backlog over as one transaction);
a message published alone arrived in 0.35 ms (p50) on the pull loop against 0.69 ms here. Half a
millisecond on a route that sees a few messages a minute is nothing measurable; the hot routes (usage
samples, usage records, job submissions, workload, allocation and heartbeat events, invoice snapshots)
keep the pull loop.
"""

from __future__ import annotations

from faststream.middlewares import AckPolicy
from faststream.nats import JStream, NatsBroker, NatsMessage, PullSub
from faststream.nats.annotations import NatsMessage as CurrentMessage
from faststream.nats.subscriber.usecases.stream_pull_subscriber import PullStreamSubscriber
from nats.js import JetStreamContext

from shared.db.pool import Database
from shared.messaging.consumer import handle_message
from shared.messaging.patience import patiently
from shared.messaging.pull import IDLE_POLL_S, durable_config, refilter
from shared.messaging.specs import ConsumerSpec


def low_rate_subscriber(
    broker: NatsBroker, *, durable: str, stream: str, subject: str, max_deliver: int
) -> PullStreamSubscriber:
    """A FastStream subscriber on the durable (registered on the broker: broker.start() starts it)."""
    return broker.subscriber(
        subject,
        stream=JStream(stream, declare=False),
        durable=durable,
        config=durable_config(durable, max_deliver, batch_size=1, ordered=True),
        pull_sub=PullSub(batch_size=1, timeout=IDLE_POLL_S),
        ack_policy=AckPolicy.MANUAL,
        # The body is parsed by the route (a malformed one is dead-lettered), never by FastStream.
        decoder=_raw_body,
    )


async def _raw_body(message: NatsMessage) -> bytes:
    return message.body


class LowRateConsumer:
    """A ConsumerSpec with low_rate=True, on a FastStream subscriber of the service's broker."""

    def __init__(self, broker: NatsBroker, js: JetStreamContext, db: Database, spec: ConsumerSpec) -> None:
        self._js = js
        self._db = db
        self._spec = spec
        # One delivery more than the handler's budget, so the last failure is dead-lettered, not dropped.
        self._subscriber = low_rate_subscriber(
            broker,
            durable=spec.durable,
            stream=spec.stream_name,
            subject=spec.subject,
            max_deliver=spec.max_deliveries + 1,
        )
        self._subscriber(self._on_message)

    async def prepare(self) -> None:
        """Before the broker starts the subscriber: an older durable's filter is brought up to date."""
        spec = self._spec
        await patiently(
            lambda: refilter(self._js, spec.stream_name, spec.durable, spec.subject, ordered=True),
            f"consumer {spec.durable}",
        )

    async def _on_message(self, body: bytes, message: CurrentMessage) -> None:
        await handle_message(self._db, self._spec, message.raw_message, traced=True)
