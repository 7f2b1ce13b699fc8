"""Batch rating: grouped charges bill exactly what rating every record on its own bills."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

import pytest

from pricing.periods import period_of
from services.metering.domain.errors import PriceBookNotYetKnown
from services.metering.invoicing.domain.charge_ledger import (
    ChargeLedger,
    LedgerEntry,
    LedgerKey,
    PriceBookVersions,
)
from services.metering.invoicing.domain.invoice import BillingInvoice
from services.metering.invoicing.domain.invoice_pricing import price_invoice
from services.metering.invoicing.domain.price_books import price_book_in_effect
from services.metering.invoicing.domain.rating import Charge, UsageWindow, rate_usage
from services.metering.usage.domain.batch_rating import TenantBilling, UsageRater
from shared.events.ingest import UsageRecorded
from tests.unit.metering.usage.builders import T0, billing, book, inference, sample

# Prices change a day before T0; March is finalized for "beta", so its usage bills in April.
BOOKS = (
    book(per_kwh="0.20"),
    book(per_kwh="0.30", per_request="0.02", effective_from=T0 - timedelta(days=1)),
)


def tenants() -> dict[str, TenantBilling]:
    return {
        "acme": billing("acme", BOOKS),
        "beta": billing("beta", (book("beta", per_1k_tokens="0.5"),), frozenset({"2026-03"})),
    }


def one_by_one(records: list[UsageRecorded], billing_of: dict[str, TenantBilling]) -> dict[tuple, Charge]:  # type: ignore[type-arg]
    """The per-record rules of rating.py, summed per (tenant, billed period, usage period, price-book
    version, project, meter): the charge ledger's key."""
    summed: dict[tuple, list[Charge]] = defaultdict(list)  # type: ignore[type-arg]
    for r in records:
        window = UsageWindow(
            r.event_id, r.tenant_id, r.project_id, r.source, r.source_event_id, r.window_start,
            r.window_end, r.energy_j, r.requests, r.input_tokens, r.output_tokens,
        )  # fmt: skip
        tenant = billing_of[r.tenant_id]
        item = rate_usage(window, tenant.books, tenant.finalized)
        version = price_book_in_effect(r.tenant_id, tenant.books, r.window_start).effective_from
        for charge in item.charges:
            key = (r.tenant_id, item.period, period_of(r.window_end), version, r.project_id, charge.meter)
            summed[key].append(charge)
    return {
        key: Charge(key[4], key[5], sum((c.base_quantity for c in cs), Decimal(0)), cs[0].unit_price, max(c.priced_at for c in cs))
        for key, cs in summed.items()
    }  # fmt: skip


def priced_invoice(tenant: TenantBilling, period: str, quantities: dict[tuple, Decimal]) -> BillingInvoice:  # type: ignore[type-arg]
    """The tenant's invoice of the period, priced by the invoice pricing engine from quantities summed
    per charge-ledger key (tenant, billed period, usage period, price-book version, project, meter)."""
    entries = [
        LedgerEntry(LedgerKey(billed, usage, version, project, meter, None), quantity)
        for (tenant_id, billed, usage, version, project, meter), quantity in quantities.items()
        if tenant_id == tenant.tenant_id
    ]
    versions = PriceBookVersions(tenant.tenant_id, tenant.books)
    return price_invoice(ChargeLedger.from_entries(versions, entries), period, "USD")


def random_records(rng: random.Random, count: int) -> list[UsageRecorded]:
    records = []
    for _ in range(count):
        at = T0 + timedelta(hours=rng.randint(-60, 48), seconds=rng.randint(0, 3599))
        tenant, project = rng.choice(("acme", "beta")), rng.choice(("p1", "p2"))
        if rng.random() < 0.5:
            records.append(
                sample(at, tenant_id=tenant, project_id=project, energy_j=str(rng.randint(0, 9999)))
            )
        else:
            records.append(
                inference(at, tenant_id=tenant, project_id=project, requests=rng.randint(0, 5), input_tokens=rng.randint(0, 999))
            )  # fmt: skip
    return records


@pytest.mark.parametrize("seed", range(6))
def test_grouped_charges_equal_rating_each_record(seed: int) -> None:
    records = random_records(random.Random(seed), 300)
    billing_of = tenants()

    charges = UsageRater(billing_of).charges(records)

    grouped = {(c.tenant_id, c.period, c.usage_period, c.version, c.project_id, c.meter): c for c in charges}
    expected = one_by_one(records, billing_of)
    assert grouped.keys() == expected.keys()
    for key, charge in grouped.items():
        assert (charge.base_quantity, charge.priced_at, charge.unit_price) == (
            expected[key].base_quantity,
            expected[key].priced_at,
            expected[key].unit_price,
        )
    # ... and so the invoices, rounded once per line, are the same to the cent.
    for tenant, period in {(k[0], k[1]) for k in expected}:
        mine = priced_invoice(billing_of[tenant], period, {k: c.base_quantity for k, c in grouped.items()})
        theirs = priced_invoice(billing_of[tenant], period, {k: c.base_quantity for k, c in expected.items()})
        assert mine.total == theirs.total


def test_usage_of_a_finalized_month_is_billed_on_the_next_open_one() -> None:
    rater = UsageRater(tenants())
    record = inference(T0, tenant_id="beta", input_tokens=1000)
    assert (rater.natural_period(record), rater.billed_period(record)) == ("2026-03", "2026-04")
    (charge,) = [c for c in rater.charges([record]) if c.meter.value == "tokens_1k"]
    assert (charge.period, charge.base_quantity, charge.unit_price) == (
        "2026-04",
        Decimal(1000),
        Decimal("0.5"),
    )


def test_fleet_usage_and_pure_utilization_are_not_charged() -> None:
    rater = UsageRater(tenants())
    assert rater.charges([sample(tenant_id="_fleet"), sample(energy_j="0")]) == []
    assert rater.billed_period(sample(tenant_id="_fleet")) == "2026-03"


def test_the_version_in_effect_is_pricings_rule() -> None:
    tenant = billing("acme", (BOOKS[1], BOOKS[0], book(per_kwh="9", effective_from=BOOKS[1].effective_from)))
    for hours in range(-24 * 40, 48, 5):
        at = T0 + timedelta(hours=hours)
        assert tenant.books[tenant.version_at(at)] == price_book_in_effect("acme", tenant.books, at)


def test_a_tenant_without_a_price_book_cannot_be_rated() -> None:
    with pytest.raises(PriceBookNotYetKnown):
        UsageRater({"acme": billing("acme", ())}).charges([inference()])
