"""The two transports a durable consumer can run on, side by side on a local nats-server.

`pull loop` is shared/messaging/pull.py (raw nats-py: long poll for one, then fetch bursts of up to
`batch`); `faststream` is a FastStream JetStream pull subscriber as shared/messaging/subscriber.py
declares it (one message per fetch, so stream order holds; the telemetry middleware on it). Each drains
a backlog of N messages (acking each), then handles messages published one at a time (the latency a
low-rate route sees). Usage: python bench/subscriber_transport.py [--messages 5000] [--singles 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from faststream.nats.annotations import NatsMessage as CurrentMessage
from nats.aio.msg import Msg
from nats.js import JetStreamContext

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from shared.infra.embedded import EmbeddedNats  # noqa: E402
from shared.messaging.broker import connect_and_declare, create_broker  # noqa: E402
from shared.messaging.pull import PullLoop  # noqa: E402
from shared.messaging.streams import GATEWAY  # noqa: E402
from shared.messaging.subscriber import low_rate_subscriber  # noqa: E402

Arrived = Callable[[Msg], Awaitable[None]]


async def run_pull_loop(js: JetStreamContext, durable: str, subject: str, on_message: Arrived) -> PullLoop:
    async def on_messages(messages: list[Msg]) -> None:
        for message in messages:
            await on_message(message)

    loop = PullLoop(
        js, durable=durable, stream=GATEWAY.name, subject=subject, batch_size=50, max_deliver=6,
        on_messages=on_messages,
    )  # fmt: skip
    await loop.start()
    return loop


async def measure(nats_url: str, transport: str, messages: int, singles: int) -> dict[str, float]:
    broker = create_broker(nats_url, f"bench-{transport}")
    js = await connect_and_declare(broker)
    name = transport.replace(" ", "-")
    subject = f"gateway.v1.bench.{name}"
    done = asyncio.Event()
    seen = 0
    target = messages
    arrived_at: list[float] = []

    async def on_message(message: Msg) -> None:
        nonlocal seen
        await message.ack()
        seen += 1
        arrived_at.append(time.perf_counter())
        if seen >= target:
            done.set()

    body = b'{"n": 1}'
    for _ in range(messages):
        await js.publish(subject, body)
    durable = f"bench-{name}"
    started = time.perf_counter()
    if transport == "pull loop":
        stoppable: PullLoop | None = await run_pull_loop(js, durable, subject, on_message)
    else:
        stoppable = None
        subscriber = low_rate_subscriber(
            broker, durable=durable, stream=GATEWAY.name, subject=subject, max_deliver=6
        )

        async def handle(body: bytes, message: CurrentMessage) -> None:
            await on_message(message.raw_message)

        subscriber(handle)
        await broker.start()
    await done.wait()
    drain_s = time.perf_counter() - started

    latencies: list[float] = []
    for _ in range(singles):
        target = seen + 1
        done.clear()
        sent = time.perf_counter()
        await js.publish(subject, body)
        await done.wait()
        latencies.append(arrived_at[-1] - sent)
    if stoppable is not None:
        await stoppable.stop()
    await broker.stop()
    return {
        "drain_msgs_per_s": messages / drain_s,
        "single_p50_ms": statistics.median(latencies) * 1000,
        "single_p99_ms": sorted(latencies)[int(len(latencies) * 0.99) - 1] * 1000,
    }


async def main(messages: int, singles: int) -> None:
    with tempfile.TemporaryDirectory() as data:
        server = EmbeddedNats(Path(data)).start()
        try:
            figures = {
                t: await measure(server.url, t, messages, singles) for t in ("pull loop", "faststream")
            }
        finally:
            server.stop()
    print(f"{'transport':<12} {'drain msg/s':>12} {'single p50 ms':>14} {'single p99 ms':>14}")
    for transport, row in figures.items():
        print(
            f"{transport:<12} {row['drain_msgs_per_s']:>12.0f} {row['single_p50_ms']:>14.2f}"
            f" {row['single_p99_ms']:>14.2f}"
        )
    print(
        json.dumps({"benchmark": "subscriber_transport", "messages": messages, "singles": singles} | figures)
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--singles", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.messages, args.singles))
