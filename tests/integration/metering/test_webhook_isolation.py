"""One tenant's webhooks cannot hurt another's, on the real dispatcher and PostgreSQL: a tenant whose
endpoint trickles holds a few slots for an attempt's deadline while another tenant's delivery goes out at
once; the claim takes tenants in turn, each within its room; the cap on a tenant's endpoints holds across
concurrent transactions, and through the service the endpoint one too many is dead-lettered."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from services.metering.main import MIGRATIONS, SCHEMA
from services.metering.webhooks.adapters.dispatcher import HttpxWebhookSender, WebhookDispatcher
from services.metering.webhooks.adapters.store import PgWebhookStore
from services.metering.webhooks.app.ports import WebhookEndpoint
from services.metering.webhooks.app.use_cases import record_endpoint
from services.metering.webhooks.domain.rules import InvalidWebhook, RetryPolicy, WebhookLimits
from shared.clock import SystemClock
from shared.db.migrations import migrate
from shared.db.pool import Database, create_pool
from shared.events.gateway import WebhookEndpointSet
from tests.integration.metering.billing_events_harness import eventually, running_metering
from tests.integration.metering.webhook_receivers import at_once, receiving, trickling

CLOCK = SystemClock()
DEADLINE_S = 10.0  # the default attempt deadline (AIFACTORY_WEBHOOK_TIMEOUT_S)


@pytest.fixture
async def db(fresh_database: str) -> AsyncIterator[Database]:
    await migrate(fresh_database, SCHEMA, MIGRATIONS)
    pool = await create_pool(fresh_database, SCHEMA, max_size=16)
    yield Database(pool)
    await pool.close()


async def endpoint(db: Database, tenant_id: str, url: str, endpoint_id: str | None = None) -> WebhookEndpoint:
    made = WebhookEndpoint(endpoint_id or f"whk_{tenant_id}", tenant_id, url, "s" * 16, (), True, CLOCK.now())
    async with db.transaction() as tx:
        await PgWebhookStore(tx.conn).save_endpoint(made)
    return made


async def queue(db: Database, to: WebhookEndpoint, *ago_s: float) -> None:
    """A delivery to the endpoint for each of `ago_s`, due that many seconds ago."""
    async with db.transaction() as tx:
        for seconds in ago_s:
            due_at = CLOCK.now() - timedelta(seconds=seconds)
            await PgWebhookStore(tx.conn).add_delivery(
                to, uuid.uuid4(), "metering.v1.usage.rated", b"{}", due_at
            )


async def test_a_trickling_tenant_does_not_delay_another_tenants_delivery(db: Database) -> None:
    # Tenant A: twelve deliveries due first, to an endpoint that answers a byte every 9 s (each read is
    # within any per-read timeout; the answer never completes). Tenant B: an endpoint that answers at once.
    async with receiving(trickling(9.0)) as slow, receiving(at_once) as quick:
        a = await endpoint(db, "tnt_a", slow.url)
        await queue(db, a, *range(20, 8, -1))
        sender = HttpxWebhookSender(DEADLINE_S, allow_internal=True)
        policy = RetryPolicy(max_attempts=2, base_delay_s=600, max_delay_s=600)  # no retry within the test
        dispatcher = WebhookDispatcher(db, CLOCK, sender, policy, poll_s=0.05, lease_s=60)
        running = asyncio.create_task(dispatcher.run())
        try:
            await eventually(lambda: _now(slow.open_now), lambda n: n >= 4, timeout=5)
            b = await endpoint(db, "tnt_b", quick.url)
            queued_at = time.monotonic()
            await queue(db, b, 0)

            await eventually(lambda: _now(len(quick.arrivals)), lambda n: n == 1, timeout=DEADLINE_S - 2)
            b_waited = quick.arrivals[0] - queued_at
            assert b_waited < 3.0, f"tenant B waited {b_waited:.1f} s behind tenant A"
            assert slow.most_at_once == 4  # A never held more than its share of the dispatcher's slots

            # A's attempts end at the deadline, failed, instead of trickling on for hours.
            attempts = await eventually(
                lambda: db.fetch(
                    "SELECT a.duration_ms, a.error FROM webhook_attempts a JOIN webhook_deliveries d"
                    " USING (delivery_id) WHERE d.tenant_id = 'tnt_a'"
                ),
                lambda rows: len(rows) >= 4,
                timeout=DEADLINE_S + 5,
            )
            for row in attempts:
                assert DEADLINE_S * 1000 * 0.95 <= row["duration_ms"] < (DEADLINE_S + 2) * 1000
                assert row["error"] == "no complete answer within the attempt's deadline of 10 s"
            delivered = await db.fetch("SELECT status FROM webhook_deliveries WHERE tenant_id = 'tnt_b'")
            assert [row["status"] for row in delivered] == ["delivered"]
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
            await sender.close()


async def _now(value: int) -> int:
    return value


async def test_the_claim_takes_tenants_in_turn_each_within_its_room(db: Database) -> None:
    a = await endpoint(db, "tnt_a", "https://a.example/h")
    b = await endpoint(db, "tnt_b", "https://b.example/h")
    c = await endpoint(db, "tnt_c", "https://c.example/h")
    await queue(db, a, *range(100, 80, -1))  # a backlog of 20, the oldest of all
    await queue(db, b, 10)
    await queue(db, c, 50, 5, -60)  # the last not due yet

    now = CLOCK.now()
    lease = now + timedelta(seconds=60)
    async with db.transaction() as tx:
        store = PgWebhookStore(tx.conn)
        # A has 3 attempts in flight already: room for 1 more of its 4.
        first = await store.claim_due(now, 10, lease, per_tenant=4, in_flight={"tnt_a": 3})
        second = await store.claim_due(now, 10, lease, per_tenant=4)
        third = await store.claim_due(now, 2, lease, per_tenant=4)

    # Each tenant's oldest first (in the order they fell due), then each one's second.
    assert [(d.tenant_id, d.attempt) for d in first] == [
        ("tnt_a", 1),
        ("tnt_c", 1),
        ("tnt_b", 1),
        ("tnt_c", 1),
    ]
    assert [d.tenant_id for d in second] == ["tnt_a"] * 4  # only A has more due; 4 at most
    assert [d.tenant_id for d in third] == ["tnt_a"] * 2  # the free slots bound the claim
    claimed = [d.delivery_id for d in first + second + third]
    assert len(set(claimed)) == len(claimed) == 10


async def test_the_endpoint_cap_holds_across_concurrent_transactions(db: Database) -> None:
    limits = WebhookLimits(max_endpoints_per_tenant=2)

    def setting(endpoint_id: str) -> WebhookEndpointSet:
        return WebhookEndpointSet(
            occurred_at=CLOCK.now(),
            tenant_id="tnt_a",
            endpoint_id=endpoint_id,
            url="https://hooks.example.com/in",
            secret="s" * 16,
            event_types=[],
        )

    async def record(endpoint_id: str, hold: asyncio.Event | None = None) -> None:
        async with db.transaction() as tx:
            await record_endpoint(PgWebhookStore(tx.conn), setting(endpoint_id), limits)
            if hold is not None:
                await hold.wait()  # counted and saved, not yet committed

    await record("whk_1")
    release = asyncio.Event()
    holding = asyncio.create_task(record("whk_2", release))
    try:
        await asyncio.sleep(0.2)
        racing = asyncio.create_task(record("whk_3"))  # another replica, at the same moment
        await asyncio.sleep(0.3)
        waited = not racing.done()  # for the first to commit, before counting
        release.set()
        await holding
        with pytest.raises(InvalidWebhook, match="has 2 active webhook endpoints"):
            await racing
        assert waited
    finally:
        release.set()  # a failed test leaves no transaction open
        await asyncio.gather(holding, return_exceptions=True)
    active = await db.fetch("SELECT endpoint_id FROM webhook_endpoints WHERE active ORDER BY endpoint_id")
    assert [row["endpoint_id"] for row in active] == ["whk_1", "whk_2"]


async def test_the_endpoint_one_too_many_is_dead_lettered_with_the_reason(
    nats_url: str, fresh_database: str
) -> None:
    async with running_metering(nats_url, fresh_database) as metering:
        t = metering.tenant
        settings = [
            WebhookEndpointSet(
                occurred_at=CLOCK.now(),
                tenant_id=t,
                endpoint_id=f"whk_{n:02}",
                url=f"https://hooks.example.com/{n}",
                secret="s" * 16,
                event_types=[],
            )
            for n in range(11)
        ]
        await metering.publish(*settings)

        reasons = await eventually(
            lambda: metering.host.db.fetch("SELECT event_id, reason FROM dead_letters"),
            lambda rows: len(rows) == 1,
        )
        active = await metering.host.db.pool.fetchval(
            "SELECT count(*) FROM webhook_endpoints WHERE tenant_id = $1 AND active", t
        )

    assert active == 10
    assert reasons[0]["event_id"] == str(settings[-1].event_id)
    assert reasons[0]["reason"] == (
        "rejected: webhook endpoint whk_10: the tenant has 10 active webhook endpoints, the most allowed "
        "(AIFACTORY_WEBHOOK_MAX_ENDPOINTS_PER_TENANT=10); remove one first"
    )
