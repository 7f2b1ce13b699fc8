"""The rebuild command on a running metering: invoices recomputed from the raw events (a finalized one,
and the next draft that received the finalized month's late usage as adjustment lines) agree with the
kept ones, to the cent; a kept charge that the raw events do not bear out makes the command fail and name
the line."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from pricing.periods import next_period, period_of
from shared.events.gateway import InvoiceFinalizeRequested
from tests.integration.metering.test_usage_pipeline import COUNTED, price_book, settled
from tests.integration.metering.usage_harness import UsageHarness, start_harness, unique
from tests.unit.metering.usage.builders import inference, released, sample

FINALIZED = "SELECT count(*) FROM invoices WHERE tenant_id = $1 AND period = $2 AND status = 'finalized'"


@pytest.fixture
async def harness(nats_url: str, fresh_database: str) -> AsyncIterator[UsageHarness]:
    async for started in start_harness(nats_url, fresh_database):
        yield started


async def rebuild_command(database_url: str, *args: str) -> tuple[int, str]:
    """`aifactory invoice-rebuild ...` as a user runs it; (exit code, output)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.cli.main", "invoice-rebuild", "--database-url", database_url, *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_rebuilt_invoices_match_and_a_tampered_charge_is_caught(
    harness: UsageHarness, fresh_database: str
) -> None:
    now = datetime.now(UTC)
    tenant = unique("acme")
    await harness.set_up_tenant(tenant, price_book(tenant, now))
    period = period_of(now - timedelta(minutes=10))
    # 1. usage and an allocation, then the month is finalized
    await harness.publish(
        *[sample(now - timedelta(minutes=10, seconds=i), tenant_id=tenant, energy_j="123456.7") for i in range(20)],
        *[inference(now - timedelta(minutes=9, seconds=i), tenant_id=tenant, requests=3, input_tokens=999) for i in range(5)],
        released(4000.5, end=now - timedelta(minutes=8), tenant_id=tenant, gpu_count=2),
    )  # fmt: skip
    assert await harness.wait_for(COUNTED, 5, tenant, "requests") == 5
    await settled(harness)
    # 2. a kept charge counted twice is caught (a draft whose usage is priced from the kept charges)
    tamper = "UPDATE rated_usage SET base_quantity = base_quantity * $3 WHERE tenant_id = $1 AND period = $2"
    await harness.host.db.pool.execute(tamper, tenant, period, Decimal(2))
    code, output = await rebuild_command(fresh_database, "--tenant", tenant, "--period", period)
    assert code == 1, output
    assert "DIFFERENT" in output and "line p1/requests: kept (Decimal('30')" in output
    await harness.host.db.pool.execute(tamper, tenant, period, Decimal("0.5"))
    await harness.publish(InvoiceFinalizeRequested(occurred_at=now, tenant_id=tenant, period=period))
    assert await harness.wait_for(FINALIZED, 1, tenant, period) == 1
    # 3. late usage of the finalized month, billed on the next invoice (as adjustment lines)
    await harness.publish(
        *[inference(now - timedelta(minutes=7, seconds=i), tenant_id=tenant, requests=1) for i in range(4)]
    )
    assert await harness.wait_for(COUNTED, 9, tenant, "requests") == 9
    await settled(harness)

    code, output = await rebuild_command(fresh_database, "--tenant", tenant, "--rollups")

    assert code == 0, output
    assert f"inv_{tenant}_{period} (finalized): 26 raw events" in output
    assert f"inv_{tenant}_{next_period(period)} (draft): 4 raw events" in output
    assert output.count("lines: same") == 2 and output.count(": same") == 4, output  # invoices, rollups
