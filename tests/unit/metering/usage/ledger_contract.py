"""The usage pipeline's use cases against a UsageLedger: one suite, run on the fake (unit) and on
PostgreSQL (integration), so the fake cannot drift from the real adapter.

A subclass provides the `harness` fixture (see fake_ledger.FakeLedgerHarness for what it offers).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from services.metering.domain.errors import NoPriceForModel, PriceBookNotYetKnown
from services.metering.invoicing.app.rebuild import rebuild_invoices
from services.metering.usage.app.use_cases import (
    UsageBatchResult,
    record_allocation,
    record_usage,
    retry_waiting_usage,
)
from services.metering.usage.domain.checks import UsageLimits, UsageRejected
from services.metering.usage.domain.readings import UsageMeter, record_readings
from services.metering.usage.domain.rollups import GRAINS, Grain, roll_up
from tests.unit.metering.usage.builders import T0, billing, book, inference, released, sample

NOW = T0 + timedelta(minutes=10)
LIMITS = UsageLimits(max_future_skew_s=300, grace_s=35 * 86_400)
MARCH = "2026-03"
FOREVER = datetime(9999, 1, 1, tzinfo=UTC)  # lists every waiting record, as if all had waited too long


def expected_cells(records: list[Any], grain: Grain) -> dict[Any, Any]:
    readings = [reading for record in records for reading in record_readings(record)]
    return {k: (c.sum, c.count, c.max, c.latest, c.latest_at) for k, c in roll_up(readings, grain).items()}


class UsageLedgerContract:
    async def test_a_batch_is_rolled_up_per_minute_hour_and_day(self, harness: Any) -> None:
        await harness.add_tenant(billing())
        records = [
            sample(T0 + timedelta(seconds=10), energy_j="100", utilization=50),
            sample(T0 + timedelta(seconds=30), energy_j="300", utilization=70),
            inference(T0 + timedelta(minutes=2), requests=2, input_tokens=10),
        ]

        result = await record_usage(harness.ledger, records, NOW, LIMITS)

        assert result == UsageBatchResult(recorded=3, duplicates=0, rejected=0)
        for grain in GRAINS:
            assert await harness.cells(grain) == expected_cells(records, grain)
        energy = (await harness.cells(Grain.HOUR))[("acme", T0, "p1", UsageMeter.ENERGY_J, "H100")]
        assert energy == (Decimal(400), 2, Decimal(300), Decimal(300), T0 + timedelta(seconds=30))

    async def test_batches_add_up_whatever_their_order(self, harness: Any) -> None:
        await harness.add_tenant(billing())
        first = [sample(T0 + timedelta(seconds=s), energy_j=str(s), utilization=s) for s in (5, 50, 95)]
        second = [sample(T0 + timedelta(seconds=s), energy_j=str(s), utilization=s) for s in (1, 59, 70)]

        await record_usage(harness.ledger, second, NOW, LIMITS)
        await record_usage(harness.ledger, first, NOW, LIMITS)

        for grain in GRAINS:
            assert await harness.cells(grain) == expected_cells(first + second, grain)

    async def test_usage_is_charged_per_price_and_its_invoice_marked_for_publishing(
        self, harness: Any
    ) -> None:
        await harness.add_tenant(billing())
        await record_usage(
            harness.ledger,
            [sample(T0, energy_j="1800000"), sample(T0, energy_j="1800000"), inference(T0, requests=3)],
            NOW,
            LIMITS,
        )

        version = book().effective_from
        assert await harness.usage_charges() == {
            ("acme", MARCH, MARCH, version, "p1", "energy_kwh"): (
                Decimal(3_600_000),
                T0 - timedelta(seconds=60),
                Decimal("0.20"),
            ),
            ("acme", MARCH, MARCH, version, "p1", "requests"): (Decimal(3), T0, Decimal("0.01")),
        }
        assert await harness.dirty() == {("acme", MARCH)}

    async def test_rated_usage_is_announced_per_tenant_and_period_for_billing_systems(
        self, harness: Any
    ) -> None:
        await harness.add_tenant(billing())
        await harness.add_tenant(billing("beta"))
        records = [sample(T0, energy_j="3600000"), inference(T0, requests=3), inference(T0, tenant_id="beta")]

        await record_usage(harness.ledger, [*records, sample(T0, tenant_id="_fleet")], NOW, LIMITS)

        announced = sorted(await harness.usage_rated(), key=lambda e: e.tenant_id)
        assert [(e.tenant_id, e.source_kind, e.period, e.currency) for e in announced] == [
            ("acme", "usage_batch", MARCH, "USD"),
            ("beta", "usage_batch", MARCH, "USD"),
        ]
        assert sorted((c.meter, c.quantity, c.amount) for c in announced[0].charges) == [
            ("energy_kwh", Decimal(1), Decimal("0.20")),
            ("requests", Decimal(3), Decimal("0.03")),
        ]

    async def test_refused_records_are_dead_lettered_and_the_rest_recorded(self, harness: Any) -> None:
        await harness.add_tenant(billing())
        future, old, good = sample(NOW + timedelta(hours=1)), sample(NOW - timedelta(days=40)), sample(T0)

        result = await record_usage(harness.ledger, [future, old, good], NOW, LIMITS)

        assert result == UsageBatchResult(recorded=1, duplicates=0, rejected=2)
        reasons = await harness.dead_letters()
        assert len(reasons) == 2
        assert f"usage agent:{future.source_event_id} of tenant acme" in reasons[0]
        assert "3600s in the future" in reasons[0]
        assert "older than the grace period for late usage" in reasons[1]
        assert await harness.raw_usage() == [(good.source_event_id, MARCH)]

    async def test_usage_of_tenants_metering_does_not_know_waits_and_the_rest_is_recorded(
        self, harness: Any
    ) -> None:
        await harness.add_tenant(billing())
        known = sample(T0)
        ghosts = [
            sample(T0, tenant_id="ghost"),
            inference(T0, tenant_id="ghost"),
            sample(T0, tenant_id="shade"),
        ]

        result = await record_usage(harness.ledger, [known, *ghosts], NOW, LIMITS)

        assert (result.recorded, result.waiting) == (1, tuple(record.event_id for record in ghosts))
        assert await harness.cells(Grain.DAY) == expected_cells([known], Grain.DAY)
        waiting = {
            (w.record.event_id, w.record.tenant_id, w.reason, w.since)
            for w in await harness.ledger.waiting(10, FOREVER)
        }
        assert waiting == {
            (
                record.event_id,
                record.tenant_id,
                f"tenant {record.tenant_id} is not known to metering yet",
                NOW,
            )
            for record in ghosts
        }

    async def test_waiting_usage_is_billed_once_its_tenant_has_a_price_book(self, harness: Any) -> None:
        await harness.add_tenant(billing(books=()))
        call = inference(T0)
        first = await record_usage(harness.ledger, [call], NOW, LIMITS)
        assert [w.reason for w in await harness.ledger.waiting(10, FOREVER)] == [
            str(PriceBookNotYetKnown("acme"))
        ]
        nothing_yet = await retry_waiting_usage(harness.ledger, NOW + timedelta(seconds=5), LIMITS, 3600, 10)

        await harness.add_tenant(billing())
        later = NOW + timedelta(seconds=10)
        retried = await retry_waiting_usage(harness.ledger, later, LIMITS, 3600, 10)

        assert (first.recorded, first.waiting) == (0, (call.event_id,))
        assert (nothing_yet.retried, nothing_yet.expired) == (0, 0)  # nothing it could settle yet
        assert (retried.retried, retried.billed.recorded, retried.expired) == (1, 1, 0)
        assert await harness.ledger.waiting(10, FOREVER) == []
        assert await harness.cells(Grain.DAY) == expected_cells([call], Grain.DAY)
        assert await harness.dead_letters() == []

    async def test_usage_that_cannot_go_yet_does_not_stand_in_front_of_usage_that_can(
        self, harness: Any
    ) -> None:
        await harness.add_tenant(billing(books=()))
        await record_usage(harness.ledger, [sample(T0, tenant_id="ghost")], NOW, LIMITS)  # waits first
        call = inference(T0)
        await record_usage(harness.ledger, [call], NOW + timedelta(seconds=1), LIMITS)
        await harness.add_tenant(billing())

        retried = await retry_waiting_usage(harness.ledger, NOW + timedelta(seconds=2), LIMITS, 3600, 1)

        assert (retried.retried, retried.billed.recorded) == (1, 1)
        assert [w.record.tenant_id for w in await harness.ledger.waiting(10, FOREVER)] == ["ghost"]

    async def test_usage_that_waits_too_long_is_dead_lettered_with_the_reason(self, harness: Any) -> None:
        await harness.add_tenant(billing())
        ghost = sample(T0, tenant_id="ghost")
        await record_usage(harness.ledger, [ghost], NOW, LIMITS)
        # Still waiting at the limit: the wait counts from the first time, not from each retry.
        kept = await retry_waiting_usage(harness.ledger, NOW + timedelta(seconds=60), LIMITS, 60, 10)
        expired = await retry_waiting_usage(harness.ledger, NOW + timedelta(seconds=61), LIMITS, 60, 10)

        assert (kept.expired, expired.expired, expired.retried) == (0, 1, 0)
        assert await harness.ledger.waiting(10, FOREVER) == []
        assert await harness.dead_letters() == [
            "rejected: waited longer than 60s to be billed: tenant ghost is not known to metering yet"
        ]

    async def test_a_record_twice_in_one_batch_counts_once(self, harness: Any) -> None:
        # Two UsageBatchRecorded messages carrying the same record can land in one consumer batch.
        await harness.add_tenant(billing())
        record = sample(T0, energy_j="10")

        result = await record_usage(harness.ledger, [record, record], NOW, LIMITS)

        assert (result.recorded, result.duplicates) == (1, 1)
        assert await harness.cells(Grain.DAY) == expected_cells([record], Grain.DAY)

    async def test_the_same_source_record_under_another_event_id_counts_once(self, harness: Any) -> None:
        await harness.add_tenant(billing())
        original = sample(T0, energy_j="10")
        copy = original.model_copy(update={"event_id": inference().event_id})

        first = await record_usage(harness.ledger, [original, copy], NOW, LIMITS)
        later = await record_usage(harness.ledger, [copy], NOW, LIMITS)

        assert (first.duplicates, later.duplicates, later.recorded) == (1, 1, 0)
        assert await harness.cells(Grain.DAY) == expected_cells([original], Grain.DAY)

    async def test_fleet_usage_is_rolled_up_but_never_charged(self, harness: Any) -> None:
        idle = sample(T0, tenant_id="_fleet", project_id="_idle", energy_j="500")
        await record_usage(harness.ledger, [idle], NOW, LIMITS)

        assert await harness.cells(Grain.DAY) == expected_cells([idle], Grain.DAY)
        assert (await harness.usage_charges(), await harness.dirty()) == ({}, set())

    async def test_usage_of_a_finalized_month_is_billed_in_the_next(self, harness: Any) -> None:
        await harness.add_tenant(billing(finalized=frozenset({MARCH})))
        late = inference(T0, requests=4)

        await record_usage(harness.ledger, [late], NOW, LIMITS)

        assert await harness.raw_usage() == [(late.source_event_id, "2026-04")]
        # Billed in April, as March usage: the invoice shows it as an adjustment of March.
        assert list(await harness.usage_charges()) == [
            ("acme", "2026-04", MARCH, book().effective_from, "p1", "requests")
        ]
        assert await harness.dirty() == {("acme", "2026-04")}
        # The rollups keep usage where it happened.
        assert [key[1] for key in await harness.cells(Grain.DAY)] == [T0.replace(hour=0)]

    async def test_a_released_allocation_is_rated_kept_and_rolled_up(self, harness: Any) -> None:
        await harness.add_tenant(billing())
        allocation = released(3599.5, gpu_count=2)

        await record_allocation(harness.store, harness.ledger, allocation, NOW, LIMITS)

        assert await harness.raw_allocations() == [(allocation.allocation_id, MARCH)]
        day = await harness.cells(Grain.DAY)
        assert day == {("acme", T0.replace(hour=0), "p1", UsageMeter.GPU_SECONDS, "H100"): (
            Decimal(7200), 1, Decimal(7200), Decimal(7200), T0
        )}  # fmt: skip
        (charge,) = await harness.rated_charges("acme", MARCH)
        assert (charge.base_quantity, charge.unit_price) == (Decimal(7200), Decimal("2.50"))

    async def test_a_release_from_the_future_is_refused(self, harness: Any) -> None:
        await harness.add_tenant(billing())
        with pytest.raises(UsageRejected, match="released_at .* is 3600s in the future"):
            await record_allocation(
                harness.store, harness.ledger, released(60, end=NOW + timedelta(hours=1)), NOW, LIMITS
            )

    async def test_an_allocation_of_a_model_without_a_price_is_refused(self, harness: Any) -> None:
        await harness.add_tenant(billing(books=(book(),)))
        with pytest.raises(
            NoPriceForModel, match="no price for GPU model MI300X in tenant acme's price book"
        ):
            await record_allocation(
                harness.store, harness.ledger, released(60, gpu_model="MI300X"), NOW, LIMITS
            )
        assert await harness.cells(Grain.DAY) == {}

    async def test_a_fractional_allocation_rebuilt_from_the_raw_events_bills_its_share(
        self, harness: Any
    ) -> None:
        await harness.add_tenant(billing())
        # ceil(3600.4) x 0.25 = 900.25 GPU-seconds at 2.50 per GPU-hour = 0.62517... -> 0.63
        await record_allocation(
            harness.store, harness.ledger, released(3600.4, gpu_share="0.25"), NOW, LIMITS
        )

        (march,) = await rebuild_invoices(harness.raw_billing(), "acme")

        assert march.differences == []
        assert [(line.meter, line.amount) for line in march.rebuilt.lines] == [("gpu_hours", Decimal("0.63"))]
        assert march.kept.total == Decimal("0.63")

    async def test_invoices_rebuilt_from_the_raw_events_match_the_kept_ones(self, harness: Any) -> None:
        # Energy costs 0.20 per kWh until T0, 0.30 from then on; February is already finalized.
        books = (book(), book(effective_from=T0, per_kwh="0.30"))
        await harness.add_tenant(billing(books=books, finalized=frozenset({"2026-02"})))
        kwh = "3600000"
        samples = [sample(T0 + timedelta(seconds=s), energy_j=kwh) for s in (-90, -30, 30, 90)]
        calls = [
            inference(T0 + timedelta(seconds=s), requests=s, input_tokens=7 * s, output_tokens=s)
            for s in (1, 2, 3)
        ]
        late = inference(datetime(2026, 2, 27, tzinfo=UTC), requests=5)  # billed in March

        await record_usage(harness.ledger, [*samples[:2], calls[0]], NOW, LIMITS)
        await record_usage(harness.ledger, [*samples[2:], *calls[1:], late], NOW, LIMITS)
        await record_allocation(harness.store, harness.ledger, released(5400.2, gpu_count=3), NOW, LIMITS)
        february, march = await rebuild_invoices(harness.raw_billing(), "acme")

        assert (february.kept.period, february.raw_events, february.rebuilt.total) == ("2026-02", 0, 0)
        assert march.differences == [] and february.differences == []
        assert march.raw_events == len(samples) + len(calls) + 2
        # Energy: 3 kWh x 0.20 (windows that start before T0) + 1 kWh x 0.30 = 0.90; requests: 11 x 0.01;
        # 48 tokens: 0.00; GPU: ceil(5400.2) x 3 GPU-seconds = 4.50083 GPU-hours x 2.50 = 11.25.
        # February's late 5 requests are an adjustment line of March (invoice.py rule 3).
        amounts = {line.meter: line.amount for line in march.rebuilt.lines}
        assert amounts == {
            "energy_kwh": Decimal("0.90"), "requests": Decimal("0.06"), "tokens_1k": Decimal("0.00"),
            "gpu_hours": Decimal("11.25"), "adjustment": Decimal("0.05"),
        }  # fmt: skip
        assert march.rebuilt.total == march.kept.total == Decimal("12.26")
