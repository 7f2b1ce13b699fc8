"""The invoice rebuild tells where the kept invoice and the raw events disagree (the agreeing case is in
ledger_contract.py, on the fake and on PostgreSQL)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from pricing.errors import InvalidPeriod
from services.metering.domain.errors import TenantNotYetKnown
from services.metering.invoicing.app.rebuild import rebuild_invoice
from services.metering.invoicing.domain.invoice import InvoiceStatus
from services.metering.usage.app.use_cases import record_usage
from tests.unit.metering.usage.builders import T0, billing, inference, sample
from tests.unit.metering.usage.fake_ledger import FakeLedgerHarness
from tests.unit.metering.usage.ledger_contract import LIMITS, MARCH, NOW


async def billed_harness() -> FakeLedgerHarness:
    harness = FakeLedgerHarness()
    await harness.add_tenant(billing())
    await record_usage(
        harness.ledger, [sample(T0, energy_j="3600000"), inference(T0, requests=7)], NOW, LIMITS
    )
    return harness


async def test_a_charge_the_raw_events_do_not_bear_out_is_named() -> None:
    harness = await billed_harness()
    key = next(key for key in harness.ledger.charges if key[5] == "energy_kwh")
    quantity, priced_at, price = harness.ledger.charges[key]
    harness.ledger.charges[key] = (quantity * 2, priced_at, price)  # counted twice

    result = await rebuild_invoice(harness.raw_billing(), "acme", MARCH)

    assert not result.matches
    assert result.differences == [
        "line p1/energy_kwh: kept (Decimal('2'), Decimal('0.20'), Decimal('0.40')), "
        "rebuilt (Decimal('1'), Decimal('0.20'), Decimal('0.20'))",
        "total: kept 0.47, rebuilt 0.27",
    ]


async def test_a_finalized_invoice_is_compared_as_it_was_frozen() -> None:
    harness = await billed_harness()
    frozen = await harness.raw_billing().kept_invoice("acme", MARCH)  # the draft as priced now
    lines = tuple(line for line in frozen.lines if line.meter != "requests")  # a line lost
    harness.store.invoices[("acme", MARCH)] = replace(
        frozen, status=InvoiceStatus.FINALIZED, lines=lines, total=Decimal("0.20")
    )

    result = await rebuild_invoice(harness.raw_billing(), "acme", MARCH)

    assert result.rebuilt.status is InvoiceStatus.FINALIZED
    assert result.differences == [
        "line p1/requests: kept None, rebuilt (Decimal('7'), Decimal('0.01'), Decimal('0.07'))",
        "total: kept 0.20, rebuilt 0.27",
    ]


async def test_an_unknown_tenant_or_a_malformed_period_is_refused() -> None:
    harness = await billed_harness()
    with pytest.raises(TenantNotYetKnown):
        await rebuild_invoice(harness.raw_billing(), "ghost", MARCH)
    with pytest.raises(InvalidPeriod):
        await rebuild_invoice(harness.raw_billing(), "acme", "2026-3")
