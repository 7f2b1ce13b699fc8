"""Metering's use cases against a MeteringStore: one suite, run on the fake (unit) and on PostgreSQL
(integration), so the fake cannot drift from the real adapter.

A subclass provides the `store` fixture.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from services.metering.domain.errors import (
    CurrencyMismatch,
    DuplicateSource,
    NoPriceForModel,
    NotInvoiced,
    PriceBookNotYetKnown,
    TenantNotYetKnown,
)
from services.metering.invoicing.app import invoices, rating
from services.metering.invoicing.app.ports import MeteringStore
from services.metering.invoicing.domain.invoice import InvoiceStatus
from services.metering.invoicing.domain.rating import UsageWindow, rate_usage
from shared.events.metering import InvoiceFinalized, InvoiceUpdated
from tests.unit.metering.builders import (
    allocation_released,
    at,
    finalize_requested,
    price_book_set,
    tenant_created,
    usage_window,
)
from tests.unit.metering.invoicing.fake_store import RecordingOutbox

INTERVAL = timedelta(seconds=1)
NOW = at(86_400 * 40)


async def publish(store: MeteringStore, now: datetime = NOW) -> list[InvoiceUpdated]:
    outbox = RecordingOutbox()
    await invoices.publish_due_invoices(store, outbox, now, INTERVAL)
    return [e for e in outbox.events if isinstance(e, InvoiceUpdated)]


async def set_up_tenant(
    store: MeteringStore,
    currency: str = "USD",
    gpu_hour: dict[str, str] | None = None,
    per_kwh: str = "0",
    per_request: str = "0",
) -> None:
    await rating.record_tenant(store, tenant_created(currency=currency))
    book = price_book_set(currency=currency, gpu_hour=gpu_hour, per_kwh=per_kwh, per_request=per_request)
    await rating.record_price_book(store, book)


async def store_rated_usage(store: MeteringStore, window: UsageWindow) -> None:
    """Usage rated on its own and kept as a rated item, as set-up: the draft prices rated items and the
    usage pipeline's summed charges alike (tests/unit/metering/usage covers the pipeline itself)."""
    books, closed = await store.price_books(window.tenant_id), await store.finalized_periods(window.tenant_id)
    item = rate_usage(window, books, closed)
    assert await store.add_rated_item(item) is None
    await store.mark_dirty(window.tenant_id, item.period)


class BillingContract:
    async def test_released_allocations_and_usage_reach_one_draft_snapshot(
        self, store: MeteringStore
    ) -> None:
        await set_up_tenant(store, gpu_hour={"H100": "2.50"}, per_kwh="0.20", per_request="0.01")
        await rating.rate_released_allocation(store, allocation_released(3600, gpu_count=2))
        await rating.rate_released_allocation(store, allocation_released(1.5, project_id="p2"))
        await store_rated_usage(store, usage_window(energy_j="1800000", requests=3))

        (snapshot,) = await publish(store)

        lines = [(ln.project_id, ln.meter, ln.quantity, ln.amount) for ln in snapshot.lines]
        assert lines == [
            ("p1", "gpu_hours", Decimal(2), Decimal("5.00")),
            ("p1", "energy_kwh", Decimal("0.5"), Decimal("0.10")),
            ("p1", "requests", Decimal(3), Decimal("0.03")),
            ("p2", "gpu_hours", Decimal(2) / Decimal(3600), Decimal("0.00")),
        ]
        assert (snapshot.invoice_id, snapshot.status, snapshot.currency, snapshot.total) == (
            "inv_acme_2026-01",
            "draft",
            "USD",
            Decimal("5.13"),
        )
        assert await publish(store, NOW + INTERVAL) == []  # nothing changed since

    async def test_snapshots_are_coalesced_to_one_per_interval(self, store: MeteringStore) -> None:
        await set_up_tenant(store)
        await rating.rate_released_allocation(store, allocation_released(3600))
        assert len(await publish(store)) == 1

        await rating.rate_released_allocation(store, allocation_released(3600))
        assert await publish(store, NOW + INTERVAL / 2) == []
        (later,) = await publish(store, NOW + INTERVAL)
        assert later.total == Decimal("5.00")

    async def test_prices_follow_the_book_in_effect_at_each_interval_start(
        self, store: MeteringStore
    ) -> None:
        await set_up_tenant(store, gpu_hour={"H100": "2.00"})
        await rating.record_price_book(store, price_book_set(gpu_hour={"H100": "4.00"}, occurred_at=at(3600)))
        await rating.rate_released_allocation(store, allocation_released(1800, bound_at=at(0)))
        await rating.rate_released_allocation(store, allocation_released(1800, bound_at=at(7200)))

        (snapshot,) = await publish(store)
        (line,) = snapshot.lines
        assert (line.quantity, line.unit_price, line.amount) == (Decimal(1), Decimal("4.00"), Decimal("3.00"))

    async def test_the_same_allocation_under_another_event_id_is_not_billed_twice(
        self, store: MeteringStore
    ) -> None:
        await set_up_tenant(store)
        original = allocation_released(3600)
        await rating.rate_released_allocation(store, original)
        await rating.rate_released_allocation(store, original)  # the same event again: no effect

        resent = original.model_copy(update={"event_id": allocation_released(1).event_id})
        with pytest.raises(DuplicateSource, match=original.allocation_id):
            await rating.rate_released_allocation(store, resent)
        (snapshot,) = await publish(store)
        assert snapshot.total == Decimal("2.50")

    async def test_an_unpriced_model_is_rejected_and_others_still_billed(self, store: MeteringStore) -> None:
        await set_up_tenant(store)
        with pytest.raises(NoPriceForModel, match="no price for GPU model B200 in tenant acme's price book"):
            await rating.rate_released_allocation(store, allocation_released(60, gpu_model="B200"))
        await rating.rate_released_allocation(store, allocation_released(3600))
        (snapshot,) = await publish(store)
        assert [line.gpu_model for line in snapshot.lines] == ["H100"]

    async def test_usage_before_any_price_book_waits(self, store: MeteringStore) -> None:
        await rating.record_tenant(store, tenant_created())
        with pytest.raises(PriceBookNotYetKnown):
            await rating.rate_released_allocation(store, allocation_released(60))

    async def test_finalize_freezes_and_later_charges_go_to_the_next_draft(
        self, store: MeteringStore
    ) -> None:
        await set_up_tenant(store)
        await rating.rate_released_allocation(store, allocation_released(3600))
        outbox = RecordingOutbox()

        await invoices.finalize_invoice(store, outbox, finalize_requested("2026-01"), NOW)
        await invoices.finalize_invoice(store, outbox, finalize_requested("2026-01"), NOW)  # repeated: no-op

        (final,) = outbox.events
        assert isinstance(final, InvoiceFinalized)
        assert (final.invoice_id, final.status, final.total) == (
            "inv_acme_2026-01",
            "finalized",
            Decimal("2.50"),
        )
        assert await publish(store) == []  # finalizing consumed the dirty mark

        await rating.rate_released_allocation(store, allocation_released(7200))
        (draft,) = await publish(store, NOW + INTERVAL)
        assert (draft.invoice_id, draft.status, draft.total) == ("inv_acme_2026-02", "draft", Decimal("5.00"))
        assert await store.invoice_status("acme", "2026-01") is InvoiceStatus.FINALIZED
        assert await store.finalized_periods("acme") == {"2026-01"}

    async def test_a_period_with_no_usage_finalizes_empty(self, store: MeteringStore) -> None:
        await set_up_tenant(store, currency="JPY")
        outbox = RecordingOutbox()
        await invoices.finalize_invoice(store, outbox, finalize_requested("2025-12"), NOW)
        (final,) = outbox.events
        assert isinstance(final, InvoiceFinalized)
        assert (final.lines, final.total, final.currency) == ([], Decimal(0), "JPY")

    async def test_finalize_for_an_unknown_tenant_waits_and_for_the_fleet_is_rejected(
        self, store: MeteringStore
    ) -> None:
        with pytest.raises(TenantNotYetKnown):
            await invoices.finalize_invoice(
                store, RecordingOutbox(), finalize_requested("2026-01", "ghost"), NOW
            )
        with pytest.raises(NotInvoiced):
            await invoices.finalize_invoice(
                store, RecordingOutbox(), finalize_requested("2026-01", "_fleet"), NOW
            )

    async def test_fleet_usage_is_recorded_but_never_invoiced(self, store: MeteringStore) -> None:
        await rating.rate_released_allocation(store, allocation_released(60, tenant_id="_fleet"))
        assert await store.has_rated_items("_fleet")
        assert await publish(store) == []

    async def test_a_price_book_may_change_currency_only_before_any_charge(
        self, store: MeteringStore
    ) -> None:
        await set_up_tenant(store, currency="USD")
        await rating.record_price_book(store, price_book_set(currency="EUR", occurred_at=at(-3600)))
        await rating.rate_released_allocation(store, allocation_released(3600))
        with pytest.raises(CurrencyMismatch, match="already billed in EUR"):
            await rating.record_price_book(store, price_book_set(currency="JPY", occurred_at=at(-60)))

        (snapshot,) = await publish(store)
        assert snapshot.currency == "EUR"

    async def test_a_price_book_before_the_tenant_creates_it_in_the_books_currency(
        self, store: MeteringStore
    ) -> None:
        await rating.record_price_book(store, price_book_set(currency="EUR"))
        await rating.record_tenant(store, tenant_created(currency="USD"))
        tenant = await store.lock_tenant("acme", exclusive=False)
        assert tenant is not None and tenant.currency == "EUR"
