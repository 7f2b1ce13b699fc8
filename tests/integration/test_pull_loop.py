"""The pull loop binds to its durable: one an older release made with another filter subject is updated
to the loop's subject, and keeps the rest of its settings."""

from __future__ import annotations

import uuid

import nats
from nats.js.api import AckPolicy, ConsumerConfig

from shared.messaging.pull import PullLoop
from shared.messaging.streams import INGEST, ensure_streams


async def test_an_old_durable_is_refiltered_and_keeps_its_settings(nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await ensure_streams(js)
    durable = f"refilter-{uuid.uuid4().hex[:8]}"
    old = ConsumerConfig(
        durable_name=durable,
        filter_subject="ingest.v1.usage.recorded",
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=7,
    )
    await js.add_consumer(INGEST.name, config=old)
    seen: list[bytes] = []

    async def on_messages(messages: list[nats.aio.msg.Msg]) -> None:
        for message in messages:
            seen.append(message.data)
            await message.ack()

    loop = PullLoop(
        js, durable=durable, stream=INGEST.name, subject="ingest.v1.usage.>", batch_size=10, max_deliver=3,
        on_messages=on_messages,
    )  # fmt: skip
    await loop.start()
    try:
        info = await js.consumer_info(INGEST.name, durable)
        assert info.config.filter_subject == "ingest.v1.usage.>"
        assert info.config.ack_wait == 7
    finally:
        await loop.stop()
        await js.delete_consumer(INGEST.name, durable)
        await nc.close()
