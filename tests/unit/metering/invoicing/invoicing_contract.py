"""The invoice pricing engine's use cases (app/invoices.py) against a MeteringStore: prepaid credit, void with a
replacement draft, plans and commitments from PriceBookSet. One suite, run on the fake (unit) and on
PostgreSQL (integration). A subclass provides the `store` fixture."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from pricing.errors import InvalidCredit
from services.metering.domain.errors import CurrencyMismatch, InvoiceNotFinalized
from services.metering.invoicing.app import invoices, rating
from services.metering.invoicing.app.ports import MeteringStore
from services.metering.invoicing.domain.invoice import InvoiceStatus
from shared.events.gateway import (
    CommitmentSpec,
    CreditGranted,
    InvoiceVoidRequested,
    PricePlanSpec,
    PriceTier,
)
from shared.events.metering import InvoiceUpdated, InvoiceVoided
from tests.unit.metering.builders import T0, allocation_released, finalize_requested, price_book_set
from tests.unit.metering.invoicing.billing_contract import NOW, publish, set_up_tenant
from tests.unit.metering.invoicing.fake_store import RecordingOutbox

FEBRUARY = T0 + timedelta(days=31)


def credit(amount: str, grant_id: str = "crd_1", currency: str = "USD") -> CreditGranted:
    return CreditGranted(
        occurred_at=T0, tenant_id="acme", grant_id=grant_id, amount=Decimal(amount), currency=currency
    )


def void_request(invoice_id: str, reason: str = "wrong prices") -> InvoiceVoidRequested:
    return InvoiceVoidRequested(occurred_at=NOW, tenant_id="acme", invoice_id=invoice_id, reason=reason)


class InvoicingContract:
    async def test_credit_is_drawn_down_across_two_periods(self, store: MeteringStore) -> None:
        await set_up_tenant(store)  # H100 at 2.50
        await invoices.grant_credit(store, credit("6.00"))
        await invoices.grant_credit(store, credit("6.00"))  # the same grant again: counted once
        await rating.rate_released_allocation(store, allocation_released(7200))  # 5.00 in January

        (january,) = await publish(store)
        assert (january.subtotal, january.credit_applied, january.total) == (
            Decimal("5.00"),
            Decimal("5.00"),
            0,
        )
        assert january.lines[-1].kind == "prepaid_credit" and january.lines[-1].amount == Decimal("-5.00")
        await invoices.finalize_invoice(store, RecordingOutbox(), finalize_requested("2026-01"), NOW)
        await rating.rate_released_allocation(store, allocation_released(7200, bound_at=FEBRUARY))

        (february,) = await publish(store, NOW + timedelta(days=1))
        assert (february.subtotal, february.credit_applied, february.total) == (
            Decimal("5.00"),
            Decimal("1.00"),
            Decimal("4.00"),
        )

    async def test_a_credit_in_another_currency_or_with_too_many_decimals_is_refused(
        self, store: MeteringStore
    ) -> None:
        await set_up_tenant(store)
        with pytest.raises(CurrencyMismatch):
            await invoices.grant_credit(store, credit("5", currency="EUR"))
        with pytest.raises(InvalidCredit):
            await invoices.grant_credit(store, credit("5.001"))

    async def test_a_voided_invoice_is_kept_and_a_replacement_draft_opens_its_period(
        self, store: MeteringStore
    ) -> None:
        await set_up_tenant(store)
        await invoices.grant_credit(store, credit("2.00"))
        await rating.rate_released_allocation(store, allocation_released(7200))
        await invoices.finalize_invoice(store, RecordingOutbox(), finalize_requested("2026-01"), NOW)
        outbox = RecordingOutbox()

        await invoices.void_invoice(store, outbox, void_request("inv_acme_2026-01"), NOW)
        await invoices.void_invoice(store, outbox, void_request("inv_acme_2026-01"), NOW)  # repeated: no-op

        voided, replacement = outbox.events
        assert isinstance(voided, InvoiceVoided) and isinstance(replacement, InvoiceUpdated)
        assert (voided.status, voided.void_reason, voided.total) == ("void", "wrong prices", Decimal("3.00"))
        assert (replacement.invoice_id, replacement.revision, replacement.replaces) == (
            "inv_acme_2026-01_r2",
            2,
            "inv_acme_2026-01",
        )
        # The voided invoice's credit is given back: the replacement applies it again.
        assert (replacement.status, replacement.credit_applied, replacement.total) == (
            "draft",
            2,
            Decimal("3.00"),
        )
        kept = await store.invoice_by_id("acme", "inv_acme_2026-01")
        assert kept is not None and kept.status is InvoiceStatus.VOID
        assert await store.invoice_status("acme", "2026-01") is InvoiceStatus.DRAFT
        with pytest.raises(InvoiceNotFinalized):
            await invoices.void_invoice(store, outbox, void_request("inv_acme_2026-01_r2"), NOW)

    async def test_plans_and_commitments_of_the_price_book_price_the_invoice(
        self, store: MeteringStore
    ) -> None:
        book = price_book_set(gpu_hour={}).model_copy(
            update={
                "plans": [
                    PricePlanSpec(
                        meter="gpu_hours",
                        gpu_model="H100",
                        kind="tiered",
                        tiers=[
                            PriceTier(up_to=Decimal(1), unit_price=Decimal(3)),
                            PriceTier(unit_price=Decimal(1)),
                        ],
                    )
                ],
                "commitments": [
                    CommitmentSpec(
                        commitment_id="c1", kind="spend", committed=Decimal(10), discount=Decimal("0.5")
                    )
                ],
            }
        )
        await set_up_tenant(store)
        await rating.record_price_book(store, book)
        await rating.rate_released_allocation(store, allocation_released(3 * 3600))

        (snapshot,) = await publish(store)

        # Graduated: 1 x 3.00 + 2 x 1.00 = 5.00, half off: 2.50; 7.50 short of the committed 10.00.
        assert [(line.kind, line.list_amount, line.amount) for line in snapshot.lines] == [
            ("usage", Decimal("5.00"), Decimal("2.50")),
            ("commitment_shortfall", Decimal("7.50"), Decimal("7.50")),
        ]
        assert snapshot.total == Decimal("10.00")
