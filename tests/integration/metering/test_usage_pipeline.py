"""The usage pipeline in the running metering service: usage records and allocation releases from
JetStream into raw tables, rollups and invoices; bad input dead-lettered with its reason; duplicates
counted once; rollups that the raw events rebuild exactly."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest

from pricing.periods import period_of
from services.metering.consumers import ALLOCATIONS_DURABLE, USAGE_DURABLE
from services.metering.usage.adapters.archive import PostgresUsageArchive
from services.metering.usage.app.rebuild import RebuildRange, rollup_differences
from shared.events.gateway import PriceBookSet
from shared.messaging.streams import INGEST, SCHEDULER
from tests.integration.metering.usage_harness import UsageHarness, start_harness, unique
from tests.unit.metering.usage.builders import inference, released, sample

COUNTED = "SELECT coalesce(sum(count), 0) FROM usage_rollup_day WHERE tenant_id = $1 AND meter = $2"


@pytest.fixture
async def harness(nats_url: str, fresh_database: str) -> AsyncIterator[UsageHarness]:
    async for started in start_harness(nats_url, fresh_database):
        yield started


def price_book(tenant_id: str, now: datetime) -> PriceBookSet:
    return PriceBookSet(
        occurred_at=now - timedelta(days=1),
        tenant_id=tenant_id,
        currency="USD",
        gpu_hour={"H100": Decimal("3.60")},
        per_kwh=Decimal("0.25"),
        per_1k_tokens=Decimal("0.02"),
        per_request=Decimal("0.001"),
    )


async def settled(harness: UsageHarness, timeout: float = 20.0) -> None:
    """Every message on metering's usage and allocation durables handled (acked or dead-lettered)."""
    deadline = asyncio.get_running_loop().time() + timeout
    for stream, durable in ((INGEST.name, USAGE_DURABLE), (SCHEDULER.name, ALLOCATIONS_DURABLE)):
        while True:
            info = await harness.js.consumer_info(stream, durable)
            if info.num_pending == 0 and info.num_ack_pending == 0:
                break
            assert asyncio.get_running_loop().time() < deadline, f"{durable} still has {info}"
            await asyncio.sleep(0.05)


async def test_usage_and_allocations_reach_the_rollups_and_the_invoice(harness: UsageHarness) -> None:
    now = datetime.now(UTC)
    tenant, start = unique("acme"), now - timedelta(minutes=15)
    await harness.set_up_tenant(tenant, price_book(tenant, now))
    samples = [
        sample(start + timedelta(seconds=15 * i), tenant_id=tenant, utilization=float(i), energy_j="36000", window_s=15)
        for i in range(40)
    ]  # fmt: skip
    calls = [
        inference(
            start + timedelta(seconds=i), tenant_id=tenant, requests=2, input_tokens=500, output_tokens=100
        )
        for i in range(10)
    ]
    allocation = released(3600, end=start, tenant_id=tenant, gpu_count=2)

    await harness.publish(*samples, *calls, allocation)

    assert await harness.wait_for(COUNTED, 40, tenant, "gpu_utilization") == 40
    assert await harness.wait_for(COUNTED, 10, tenant, "requests") == 10
    assert await harness.wait_for(COUNTED, 1, tenant, "gpu_seconds") == 1
    sums = dict(
        await harness.host.db.fetch(
            "SELECT meter, sum(sum) FROM usage_rollup_day WHERE tenant_id = $1 GROUP BY meter", tenant
        )
    )
    assert sums == {
        "gpu_seconds": Decimal(7200),
        "gpu_util_seconds": sum(Decimal(i) * 15 / 100 for i in range(40)),
        "gpu_utilization": Decimal(sum(range(40))),
        "energy_j": Decimal(40 * 36000),
        "requests": Decimal(20),
        "input_tokens": Decimal(5000),
        "output_tokens": Decimal(1000),
    }
    # 2 GPU-hours x 3.60 + 0.4 kWh x 0.25 + 6k tokens x 0.02 + 20 requests x 0.001 (7.44 in one month),
    # each line rounded once, per month.
    lines: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    lines[(period_of(allocation.released_at), "gpu")] += 2 * Decimal("3.60")
    for record in samples:
        lines[(period_of(record.window_end), "energy")] += Decimal("0.01") * Decimal(
            "0.25"
        )  # 36,000 J = 0.01 kWh
    for record in calls:
        lines[(period_of(record.window_end), "tokens")] += Decimal("0.6") * Decimal("0.02")
        lines[(period_of(record.window_end), "requests")] += 2 * Decimal("0.001")
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for (period, _), amount in lines.items():
        totals[period] += amount.quantize(Decimal("0.01"), ROUND_HALF_UP)
    for period, expected in totals.items():
        total = "SELECT total FROM invoices WHERE tenant_id = $1 AND period = $2"
        assert await harness.wait_for(total, expected, tenant, period) == expected
    # The raw events rebuild the very rollups the batches accumulated.
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    within = RebuildRange(tenant, day - timedelta(days=1), day + timedelta(days=2))
    assert await rollup_differences(PostgresUsageArchive(harness.host.db), within) == []


async def test_bad_input_is_dead_lettered_with_what_is_wrong_and_the_rest_still_counted(
    harness: UsageHarness,
) -> None:
    now = datetime.now(UTC)
    tenant = unique("acme")
    await harness.set_up_tenant(tenant, price_book(tenant, now))
    good = [sample(now - timedelta(minutes=5, seconds=i), tenant_id=tenant) for i in range(3)]
    negative = json.loads(sample(now, tenant_id=tenant).model_dump_json()) | {"energy_j": "-5"}
    negative_headers = sample(now, tenant_id=tenant).headers()

    await harness.publish(
        sample(now + timedelta(hours=1), tenant_id=tenant),  # 1. from the future
        sample(now - timedelta(days=60), tenant_id=tenant),  # 2. older than the grace period
        sample(now, tenant_id=tenant, window_start=now + timedelta(seconds=5)),  # 3. ends before it starts
        sample(now, tenant_id="ghost"),  # 5. a tenant metering does not know
        released(60, end=now, tenant_id=tenant, gpu_model="MI300X"),  # 6. a GPU model without a price
        released(60, end=now + timedelta(days=2), tenant_id=tenant),  # 7. released in the future
        *good,
    )
    await harness.publish_raw(
        negative_headers["ce-type"], json.dumps(negative).encode(), negative_headers
    )  # 4.

    reasons = await harness.dead_letters(7)
    expected = [
        "s in the future (at most 300s of clock skew is accepted)",
        "is older than the grace period for late usage (35 days)",
        "is before window_start",
        "energy_j: Input should be greater than or equal to 0",
        "tenant ghost is not known to metering yet",
        f"no price for GPU model MI300X in tenant {tenant}'s price book",
        "released_at",
    ]
    for fragment in expected:
        assert any(fragment in reason for reason in reasons), f"no dead letter says {fragment!r}: {reasons}"
    assert len(reasons) == 7
    await settled(harness)
    assert await harness.value(COUNTED, tenant, "gpu_utilization") == 3
    negative_cells = "SELECT count(*) FROM usage_rollup_minute WHERE sum < 0 OR max < 0 OR latest < 0"
    assert await harness.value(negative_cells) == 0
    assert await harness.value("SELECT count(*) FROM usage_events WHERE energy_j < 0") == 0


async def test_duplicates_are_counted_once(harness: UsageHarness) -> None:
    now = datetime.now(UTC)
    tenant = unique("acme")
    await harness.set_up_tenant(tenant, price_book(tenant, now))
    once, twice = (
        sample(now - timedelta(minutes=3), tenant_id=tenant),
        sample(now - timedelta(minutes=2), tenant_id=tenant),
    )
    allocation = released(600, end=now - timedelta(minutes=1), tenant_id=tenant)

    await harness.publish(once, twice, allocation)
    # Redelivered copies with new message ids get past JetStream's duplicate window: the same events,
    # and the same source record under a new event id (a producer that retried after a crash).
    await harness.publish(once, allocation, msg_id=unique("retry"))
    await harness.publish(twice.model_copy(update={"event_id": inference().event_id}))

    await settled(harness)
    assert await harness.value(COUNTED, tenant, "gpu_utilization") == 2
    assert await harness.value(COUNTED, tenant, "gpu_seconds") == 1
    assert await harness.value("SELECT count(*) FROM usage_events WHERE tenant_id = $1", tenant) == 2
    assert await harness.value("SELECT count(*) FROM dead_letters") == 0
