"""The outbox relay, the idempotent consumer and dead letters, on a real nats-server and PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.db.migrations import migrate
from shared.db.pool import Database, Tx, create_pool
from shared.events.gateway import JobCancelRequested
from shared.messaging.broker import connect_and_declare, create_broker
from shared.messaging.consumer import Consumer
from shared.messaging.outbox import OutboxRelay
from shared.messaging.routes import PermanentError, Route
from shared.messaging.specs import consumer as declare_consumer
from shared.messaging.streams import DAY_S, GATEWAY

MIGRATIONS = Path(__file__).parent / "fixture_migrations"


class Harness:
    def __init__(self, db: Database, relay: OutboxRelay, js: object) -> None:
        self.db, self.relay, self.js = db, relay, js

    async def count(self, sql: str) -> int:
        return int(await self.db.pool.fetchval(sql))

    async def wait_for(self, sql: str, expected: int, timeout: float = 10.0) -> int:
        deadline = asyncio.get_running_loop().time() + timeout
        while (value := await self.count(sql)) != expected and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        return value


@pytest.fixture
async def harness(nats_url: str, fresh_database: str) -> AsyncIterator[Harness]:
    schema = "messaging_test"
    await migrate(fresh_database, schema, MIGRATIONS)
    db = Database(await create_pool(fresh_database, schema))
    broker = create_broker(nats_url, "test")
    js = await connect_and_declare(broker)
    durable = f"test-{uuid.uuid4().hex[:8]}"

    async def apply(tx: Tx, event: JobCancelRequested) -> None:
        if event.job_id == "poison":
            raise PermanentError("job poison cannot exist")
        if event.job_id == "flaky":
            raise RuntimeError("database hiccup")
        await tx.conn.execute("INSERT INTO effects VALUES ($1, $2)", event.event_id, event.job_id)

    consumer = Consumer(
        js,
        db,
        declare_consumer(durable, Route(JobCancelRequested, apply), max_deliveries=2),
    )
    # Consume only what this test publishes: skip what earlier tests left in the stream.
    await js.purge_stream(GATEWAY.name)
    await consumer.start()
    relay = OutboxRelay(db, js, poll_s=0.1)
    relay.start()
    yield Harness(db, relay, js)
    await consumer.stop()
    await relay.stop()
    await broker.stop()
    await db.close()


def cancel(job_id: str) -> JobCancelRequested:
    return JobCancelRequested(occurred_at=datetime.now(UTC), tenant_id="t1", job_id=job_id)


async def test_outbox_events_reach_the_consumer_once(harness: Harness) -> None:
    events = [cancel(f"job-{i}") for i in range(20)]
    async with harness.db.transaction() as tx:
        await tx.emit_all(events)

    assert await harness.wait_for("SELECT count(*) FROM effects", 20) == 20
    # The relay deletes its rows once every publish is acked, which may come after the consumer's commit.
    assert await harness.wait_for("SELECT count(*) FROM outbox", 0) == 0
    await asyncio.sleep(0.3)  # nothing is delivered twice meanwhile
    assert await harness.count("SELECT count(*) FROM effects") == 20


async def test_a_redelivered_event_has_no_second_effect(harness: Harness) -> None:
    event = cancel("job-once")
    headers = event.headers()
    await harness.js.publish(event.subject(), event.model_dump_json().encode(), headers=headers)
    # A copy under another message id passes JetStream's dedupe and must be dropped by the consumer.
    headers["Nats-Msg-Id"] = str(uuid.uuid4())
    await harness.js.publish(event.subject(), event.model_dump_json().encode(), headers=headers)
    marker = cancel("job-after")
    await harness.js.publish(marker.subject(), marker.model_dump_json().encode(), headers=marker.headers())

    assert await harness.wait_for("SELECT count(*) FROM effects", 2) == 2
    assert await harness.count("SELECT count(*) FROM effects WHERE note = 'job-once'") == 1


async def test_an_outbox_row_left_unpublished_is_published_later(harness: Harness) -> None:
    # A row committed while no one woke the relay (a crashed writer) is found by polling.
    event = cancel("job-orphan")
    async with harness.db.pool.acquire() as conn:
        await Tx(conn).emit(event)
    assert await harness.wait_for("SELECT count(*) FROM effects", 1) == 1


async def test_poison_messages_are_dead_lettered_and_the_consumer_goes_on(harness: Harness) -> None:
    await harness.js.publish(
        JobCancelRequested.SUBJECT,
        b"{not json",
        headers={"ce-type": JobCancelRequested.TYPE, "Nats-Msg-Id": str(uuid.uuid4())},
    )
    for event in (cancel("poison"), cancel("flaky"), cancel("job-fine")):
        await harness.js.publish(event.subject(), event.model_dump_json().encode(), headers=event.headers())

    assert await harness.wait_for("SELECT count(*) FROM dead_letters", 3) == 3
    assert await harness.wait_for("SELECT count(*) FROM effects", 1) == 1
    reasons = [r["reason"] for r in await harness.db.fetch("SELECT reason FROM dead_letters ORDER BY id")]
    assert any("invalid gateway.v1.job.cancel_requested" in r for r in reasons)
    assert any("job poison cannot exist" in r for r in reasons)
    assert any("failed 2 times" in r and "database hiccup" in r for r in reasons)


async def test_a_service_start_keeps_stream_limits_an_operator_raised(
    nats_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    broker = create_broker(nats_url, "test")
    js = await connect_and_declare(broker)
    ours = (await js.stream_info(GATEWAY.name)).config
    raised = replace(ours, max_age=60 * DAY_S, duplicate_window=600.0, max_msgs=10_000_000)
    await js.update_stream(raised)  # the operator
    try:
        restarted = create_broker(nats_url, "test-again")
        with caplog.at_level(logging.INFO, logger="shared.messaging.streams"):
            await connect_and_declare(restarted)
        await restarted.stop()
        after = (await js.stream_info(GATEWAY.name)).config
        assert (after.max_age, after.duplicate_window, after.max_msgs) == (60 * DAY_S, 600.0, 10_000_000)
        assert after.subjects == ours.subjects
        assert (
            "stream GATEWAY: kept the operator's max_age=60d (ours 30d), duplicate_window=600s" in caplog.text
        )
    finally:
        await js.update_stream(ours)  # later tests expect our definition
        await broker.stop()
