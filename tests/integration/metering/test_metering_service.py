"""The metering service end to end on a real nats-server and PostgreSQL: events in on JetStream,
invoice snapshots out on the METERING stream, dead letters in its schema."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from nats.js import JetStreamContext

from services.metering.main import create_service
from services.metering.settings import MeteringSettings
from shared.events.base import Event
from shared.events.metering import InvoiceFinalized, InvoiceUpdated
from shared.messaging.streams import METERING
from shared.service import ServiceHost
from tests.integration.metering.gateway_auth import METERING_API_KEY
from tests.integration.metering.usage_harness import fresh_streams
from tests.unit.metering.builders import (
    allocation_released,
    finalize_requested,
    price_book_set,
    tenant_created,
    usage_recorded,
)

PUBLISH_INTERVAL_S = 0.2
JAN = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
Snapshot = InvoiceUpdated | InvoiceFinalized


class ShiftedClock:
    """Real time, moved back to just after the test data so that it is within the grace period for late
    usage (metering refuses usage much older than its clock)."""

    def __init__(self, start: datetime) -> None:
        self._offset = datetime.now(UTC) - start

    def now(self) -> datetime:
        return datetime.now(UTC) - self._offset


class Harness:
    def __init__(
        self, host: ServiceHost, js: JetStreamContext, invoices: JetStreamContext.PullSubscription
    ) -> None:
        self.host, self.js, self._invoices = host, js, invoices
        self.tenant = f"t{uuid.uuid4().hex[:8]}"
        self.received: list[Snapshot] = []

    async def publish(self, *events: Event, msg_id: str | None = None) -> None:
        for event in events:
            headers = event.headers()
            if msg_id:
                headers["Nats-Msg-Id"] = msg_id
            await self.js.publish(event.subject(), event.model_dump_json().encode(), headers=headers)

    async def snapshot(self, match: Callable[[Snapshot], bool], timeout: float = 10.0) -> Snapshot:
        """The first invoice event (received so far or later) that matches."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            found = next((s for s in self.received if match(s)), None)
            if found is not None:
                return found
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"no matching invoice event within {timeout}s; got {self.received}")
            with contextlib.suppress(TimeoutError):  # nats raises both its own and asyncio's
                for msg in await self._invoices.fetch(50, timeout=0.2):
                    is_final = (msg.headers or {}).get("ce-type") == InvoiceFinalized.TYPE
                    kind: type[Snapshot] = InvoiceFinalized if is_final else InvoiceUpdated
                    self.received.append(kind.model_validate_json(msg.data))
                    await msg.ack()

    async def set_up_tenant(
        self, currency: str = "USD", gpu_hour: dict[str, str] | None = None, per_1k_tokens: str = "0"
    ) -> None:
        """Publish the tenant and its price book, and wait until metering holds them: usage that arrives
        first is retried only a few times, which would make the tests depend on consumer start-up order."""
        book = price_book_set(self.tenant, currency=currency, gpu_hour=gpu_hour, per_1k_tokens=per_1k_tokens)
        await self.publish(tenant_created(self.tenant, currency=currency), book)
        deadline = asyncio.get_running_loop().time() + 10.0
        query = "SELECT count(*) FROM price_books WHERE source_event_id = $1"
        while not await self.host.db.pool.fetchval(query, book.event_id):
            assert asyncio.get_running_loop().time() < deadline, "metering did not record the price book"
            await asyncio.sleep(0.05)

    async def dead_letter_reasons(self, expected: int, timeout: float = 10.0) -> list[str]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            rows = await self.host.db.fetch("SELECT reason FROM dead_letters ORDER BY id")
            if len(rows) >= expected or asyncio.get_running_loop().time() > deadline:
                return [row["reason"] for row in rows]
            await asyncio.sleep(0.05)


@pytest.fixture
async def harness(nats_url: str, fresh_database: str) -> AsyncIterator[Harness]:
    nc, js = await fresh_streams(nats_url)
    invoices = await js.pull_subscribe("metering.v1.invoice.>", stream=METERING.name)
    settings = MeteringSettings(
        nats_url=nats_url,
        database_url=fresh_database,
        invoice_publish_interval_s=PUBLISH_INTERVAL_S,
        outbox_poll_s=0.1,
        http_port=0,  # metering serves its internal API too: never a fixed port in a test
        metering_api_key=METERING_API_KEY,
    )
    host = create_service(settings, clock=ShiftedClock(JAN + timedelta(days=10)))
    await host.start()
    yield Harness(host, js, invoices)
    await host.stop()
    await invoices.unsubscribe()
    await nc.close()


def gpu_amount(seconds: int, price: str) -> Decimal:
    """The billing rule, recomputed here: GPU-seconds / 3600 x price, rounded once, half up, to cents."""
    return (Decimal(seconds) / Decimal(3600) * Decimal(price)).quantize(Decimal("0.01"), ROUND_HALF_UP)


async def test_allocations_and_usage_are_invoiced_as_the_rules_say(harness: Harness) -> None:
    t = harness.tenant
    await harness.set_up_tenant("EUR", {"H100": "2.75", "A100": "1.40"}, per_1k_tokens="0.05")
    await harness.publish(
        allocation_released(1000.25, tenant_id=t, gpu_count=4, bound_at=JAN),  # 1001 s x 4
        allocation_released(333, tenant_id=t, gpu_model="A100", bound_at=JAN),
        allocation_released(59.001, tenant_id=t, project_id="p2", bound_at=JAN),  # 60 s
        usage_recorded(tenant_id=t, input_tokens=12_345, output_tokens=655, start=JAN),
    )
    expected = {
        ("p1", "gpu_hours", "A100"): (Decimal(333) / 3600, gpu_amount(333, "1.40")),
        ("p1", "gpu_hours", "H100"): (Decimal(4004) / 3600, gpu_amount(4004, "2.75")),
        ("p1", "tokens_1k", None): (Decimal(13), Decimal("0.65")),
        ("p2", "gpu_hours", "H100"): (Decimal(60) / 3600, gpu_amount(60, "2.75")),
    }
    total = sum(amount for _, amount in expected.values())

    invoice = await harness.snapshot(lambda s: s.tenant_id == t and s.total == total and len(s.lines) == 4)

    assert isinstance(invoice, InvoiceUpdated)
    assert (invoice.invoice_id, invoice.period, invoice.status, invoice.currency) == (
        f"inv_{t}_2026-01",
        "2026-01",
        "draft",
        "EUR",
    )
    assert {
        (ln.project_id, ln.meter, ln.gpu_model): (ln.quantity, ln.amount) for ln in invoice.lines
    } == expected


async def test_a_duplicate_allocation_is_billed_once(harness: Harness) -> None:
    t = harness.tenant
    await harness.set_up_tenant(gpu_hour={"H100": "3.00"})
    allocation = allocation_released(3600, tenant_id=t, bound_at=JAN)
    await harness.publish(allocation)
    # A redelivered copy under another message id gets past JetStream's dedupe window.
    await harness.publish(allocation, msg_id=str(uuid.uuid4()))
    await harness.publish(allocation_released(1800, tenant_id=t, bound_at=JAN))

    invoice = await harness.snapshot(lambda s: s.tenant_id == t and s.lines[0].quantity == Decimal("1.5"))
    assert invoice.total == Decimal("4.50")
    assert await harness.host.db.pool.fetchval("SELECT count(*) FROM rated_items") == 2


async def test_an_unknown_gpu_model_is_dead_lettered_and_later_events_still_billed(harness: Harness) -> None:
    t = harness.tenant
    await harness.set_up_tenant(gpu_hour={"H100": "2.00"})
    await harness.publish(
        allocation_released(3600, tenant_id=t, gpu_model="MI300X", bound_at=JAN),
        allocation_released(3600, tenant_id=t, bound_at=JAN),
    )

    invoice = await harness.snapshot(lambda s: s.tenant_id == t)
    assert [(ln.gpu_model, ln.amount) for ln in invoice.lines] == [("H100", Decimal("2.00"))]
    (reason,) = await harness.dead_letter_reasons(1)
    assert f"no price for GPU model MI300X in tenant {t}'s price book" in reason


async def test_finalize_closes_the_period_and_a_late_allocation_lands_in_the_next(harness: Harness) -> None:
    t = harness.tenant
    await harness.set_up_tenant("JPY", {"H100": "375"})
    await harness.publish(allocation_released(5400, tenant_id=t, bound_at=JAN))
    await harness.snapshot(lambda s: s.tenant_id == t and s.total == Decimal(563))  # 1.5 h x 375 = 562.5

    await harness.publish(finalize_requested("2026-01", tenant_id=t))
    final = await harness.snapshot(lambda s: isinstance(s, InvoiceFinalized) and s.tenant_id == t)
    assert (final.invoice_id, final.status, final.total) == (f"inv_{t}_2026-01", "finalized", Decimal(563))

    await harness.publish(allocation_released(3600, tenant_id=t, bound_at=JAN + timedelta(days=3)))
    late = await harness.snapshot(lambda s: s.tenant_id == t and s.period == "2026-02")
    assert (late.invoice_id, late.status, late.total) == (f"inv_{t}_2026-02", "draft", Decimal(375))
    after_final = harness.received[harness.received.index(final) + 1 :]
    assert all(s.period != "2026-01" for s in after_final)  # the finalized invoice never changes again


async def test_snapshots_of_a_tenant_are_at_least_one_interval_apart(harness: Harness) -> None:
    t = harness.tenant
    await harness.set_up_tenant(gpu_hour={"H100": "3.60"})
    for _ in range(30):
        await harness.publish(allocation_released(10, tenant_id=t, bound_at=JAN))
        await asyncio.sleep(0.01)  # spread the burst over more than one interval

    await harness.snapshot(lambda s: s.tenant_id == t and s.total == Decimal("0.30"))
    times = [s.occurred_at for s in harness.received if s.tenant_id == t]
    assert len(times) < 30
    assert all(b - a >= timedelta(seconds=PUBLISH_INTERVAL_S) for a, b in zip(times, times[1:], strict=False))
