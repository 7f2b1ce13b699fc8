"""A low-rate durable (a FastStream subscriber) keeps its stream order even when a delivery goes astray:
one message in flight at a time, and the lost one comes back after ORDERED_ACK_WAIT_S, not a minute."""

from __future__ import annotations

import uuid

import nats
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import AckPolicy, ConsumerConfig

from shared.messaging.pull import ORDERED_ACK_WAIT_S, durable_config, refilter
from shared.messaging.streams import GATEWAY, ensure_streams


async def test_a_lost_delivery_holds_back_the_next_message_until_it_comes_back(nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await ensure_streams(js)
    durable = f"ordered-{uuid.uuid4().hex[:8]}"
    subject = f"gateway.v1.order{uuid.uuid4().hex[:6]}.set"
    config = durable_config(durable, max_deliver=6, batch_size=1, ordered=True)
    config.filter_subject = subject
    await js.add_consumer(GATEWAY.name, config=config)
    try:
        for body in (b"first", b"second"):
            await js.publish(subject, body, stream=GATEWAY.name)
        subscription = await js.pull_subscribe(subject, durable, stream=GATEWAY.name)
        (lost,) = await subscription.fetch(1, timeout=2)  # delivered, never acked: gone astray
        assert lost.data == b"first"
        try:
            held = await subscription.fetch(1, timeout=1)
        except NatsTimeoutError:
            held = []
        assert held == []  # "second" may not overtake "first"
        (again,) = await subscription.fetch(1, timeout=ORDERED_ACK_WAIT_S + 5)
        assert again.data == b"first" and again.metadata.num_delivered == 2
        await again.ack()
        (then,) = await subscription.fetch(1, timeout=2)
        assert then.data == b"second"
        await then.ack()
    finally:
        await js.delete_consumer(GATEWAY.name, durable)
        await nc.close()


async def test_an_older_low_rate_durable_gets_the_one_in_flight_settings(nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await ensure_streams(js)
    durable = f"ordered-old-{uuid.uuid4().hex[:8]}"
    old = ConsumerConfig(
        durable_name=durable,
        filter_subject="gateway.v1.quota.set",
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=60,
        max_ack_pending=1000,
        max_deliver=6,
    )
    await js.add_consumer(GATEWAY.name, config=old)
    try:
        await refilter(js, GATEWAY.name, durable, "gateway.v1.quota.set", ordered=True)
        info = await js.consumer_info(GATEWAY.name, durable)
        assert (info.config.max_ack_pending, info.config.ack_wait) == (1, ORDERED_ACK_WAIT_S)
        assert info.config.max_deliver == 6  # the rest as it was
    finally:
        await js.delete_consumer(GATEWAY.name, durable)
        await nc.close()
