"""The batch consumer: many events per transaction, still exactly once, poison isolated."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import nats
import pytest

from shared.db.pool import Tx
from shared.events.gateway import JobCancelRequested
from shared.messaging.routes import batch_route
from shared.messaging.specs import consumer
from shared.messaging.streams import GATEWAY, ensure_streams
from shared.service import ServiceHost
from shared.settings import PlatformSettings
from tests.integration.test_messaging import MIGRATIONS


async def apply(tx: Tx, events: list[JobCancelRequested]) -> None:
    if any(e.job_id == "poison" for e in events):
        raise RuntimeError("cannot apply poison")
    await tx.conn.executemany("INSERT INTO effects VALUES ($1, $2)", [(e.event_id, e.job_id) for e in events])


@pytest.fixture
async def host(nats_url: str, fresh_database: str) -> AsyncIterator[ServiceHost]:
    settings = PlatformSettings(nats_url=nats_url, database_url=fresh_database, max_deliveries=2)
    service = ServiceHost("batch-test", settings, schema="batch_test", migrations=MIGRATIONS)
    durable = f"batch-{uuid.uuid4().hex[:8]}"
    service.add_consumers(
        lambda: [
            consumer(
                durable, batch_route(JobCancelRequested, handler=apply), batch_size=100, max_deliveries=2
            )
        ]
    )
    # Purged before the consumer exists, so it sees only what this test publishes.
    connection = await nats.connect(nats_url)
    await ensure_streams(connection.jetstream())
    await connection.jetstream().purge_stream(GATEWAY.name)
    await connection.close()
    await service.start()
    yield service
    await service.stop()


async def count(host: ServiceHost, sql: str, expected: int, timeout_s: float = 15.0) -> int:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while (value := int(await host.db.pool.fetchval(sql))) != expected:
        if asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.05)
    return value


def cancel(job_id: str) -> JobCancelRequested:
    return JobCancelRequested(occurred_at=datetime.now(UTC), tenant_id="t1", job_id=job_id)


async def test_a_burst_is_applied_once_even_with_copies_in_it(host: ServiceHost) -> None:
    events = [cancel(f"job-{i}") for i in range(300)]
    for event in events + events[:50]:  # copies under new message ids get past JetStream's dedupe
        headers = event.headers() | {"Nats-Msg-Id": str(uuid.uuid4())}
        await host.js.publish(event.subject(), event.model_dump_json().encode(), headers=headers)

    assert await count(host, "SELECT count(*) FROM effects", 300) == 300
    await asyncio.sleep(0.5)
    assert await count(host, "SELECT count(*) FROM effects", 300) == 300


async def test_a_poison_event_is_dead_lettered_alone(host: ServiceHost) -> None:
    for event in (cancel("a"), cancel("poison"), cancel("b")):
        await host.js.publish(event.subject(), event.model_dump_json().encode(), headers=event.headers())
    await host.js.publish(
        JobCancelRequested.SUBJECT, b"[]", headers={"ce-type": JobCancelRequested.TYPE, "Nats-Msg-Id": "x1"}
    )

    assert await count(host, "SELECT count(*) FROM effects", 2) == 2
    assert await count(host, "SELECT count(*) FROM dead_letters", 2) == 2
    reasons = {r["reason"] for r in await host.db.fetch("SELECT reason FROM dead_letters")}
    assert any("cannot apply poison" in r for r in reasons)
    assert any("invalid gateway.v1.job.cancel_requested" in r for r in reasons)
