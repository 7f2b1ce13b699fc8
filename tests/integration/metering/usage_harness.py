"""The metering service on the session's nats-server and a fresh database, for the usage pipeline's
integration tests: publish events, wait for what metering committed, read its dead letters."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from services.metering.consumers import ALLOCATIONS_DURABLE, USAGE_DURABLE
from services.metering.main import MeteringService, create_service
from services.metering.settings import MeteringSettings
from shared.events.base import Event
from shared.events.gateway import PriceBookSet, TenantCreated
from shared.messaging.streams import GATEWAY, INGEST, METERING, SCHEDULER, ensure_streams
from tests.integration.metering.gateway_auth import METERING_API_KEY

DURABLES = {
    GATEWAY.name: ("metering-pricebooks", "metering-invoices"),
    SCHEDULER.name: (ALLOCATIONS_DURABLE,),
    INGEST.name: (USAGE_DURABLE,),
}


class UsageHarness:
    def __init__(self, host: MeteringService, js: JetStreamContext) -> None:
        self.host, self.js = host, js

    async def publish(self, *events: Event, msg_id: str | None = None) -> None:
        for event in events:
            headers = event.headers()
            if msg_id:
                headers["Nats-Msg-Id"] = msg_id
            await self.js.publish(event.subject(), event.model_dump_json().encode(), headers=headers)

    async def publish_raw(self, subject: str, body: bytes, headers: dict[str, str]) -> None:
        await self.js.publish(subject, body, headers=headers)

    async def value(self, sql: str, *args: Any) -> Any:
        return await self.host.db.pool.fetchval(sql, *args)

    async def wait_for(self, sql: str, expected: Any, *args: Any, timeout: float = 20.0) -> Any:
        """Poll `sql` until it returns `expected` (or the deadline passes); the last value."""
        deadline = asyncio.get_running_loop().time() + timeout
        while (value := await self.value(sql, *args)) != expected:
            if asyncio.get_running_loop().time() > deadline:
                return value
            await asyncio.sleep(0.05)
        return value

    async def set_up_tenant(self, tenant_id: str, book: PriceBookSet) -> None:
        """Publish the tenant and its price book, and wait until metering holds them."""
        created = TenantCreated(
            occurred_at=book.occurred_at, tenant_id=tenant_id, name=tenant_id, currency=book.currency
        )
        await self.publish(created, book)
        found = await self.wait_for(
            "SELECT count(*) FROM price_books WHERE source_event_id = $1", 1, book.event_id
        )
        assert found == 1, "metering did not record the price book"

    async def dead_letters(self, expected: int, timeout: float = 20.0) -> list[str]:
        await self.wait_for("SELECT count(*) FROM dead_letters", expected, timeout=timeout)
        return [
            row["reason"] for row in await self.host.db.fetch("SELECT reason FROM dead_letters ORDER BY id")
        ]


async def fresh_streams(nats_url: str) -> tuple[NatsClient, JetStreamContext]:
    """A connection to the session's nats-server, whose durables live on between tests: metering's are
    deleted, to start afresh, on streams purged to hold only what this test publishes."""
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await ensure_streams(js)
    for stream, durables in DURABLES.items():
        for durable in durables:
            with contextlib.suppress(NotFoundError):
                await js.delete_consumer(stream, durable)
    for purged in (GATEWAY, SCHEDULER, INGEST, METERING):
        await js.purge_stream(purged.name)
    return nc, js


async def start_harness(nats_url: str, database_url: str, **settings: Any) -> AsyncIterator[UsageHarness]:
    nc, js = await fresh_streams(nats_url)
    values: dict[str, Any] = {
        "nats_url": nats_url,
        "database_url": database_url,
        "invoice_publish_interval_s": 0.2,
        "outbox_poll_s": 0.1,
        "http_port": 0,
        "metering_api_key": METERING_API_KEY,
        "max_deliveries": 2,
        "usage_retry_s": 0.2,
        "usage_max_wait_s": 2.0,
    }
    host = create_service(MeteringSettings(**(values | settings)))
    await host.start()
    try:
        yield UsageHarness(host, js)
    finally:
        await host.stop()
        await nc.close()


@pytest.fixture
async def usage_harness(nats_url: str, fresh_database: str) -> AsyncIterator[UsageHarness]:
    async for harness in start_harness(nats_url, fresh_database):
        yield harness


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
