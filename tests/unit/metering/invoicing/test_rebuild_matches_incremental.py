"""Property: the invoice kept up to date item by item (ledger rows added as each item is rated, with
periods finalized along the way) equals the invoice rebuilt from the raw rated items, in any order."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

import pytest

from pricing.meters import MeterName
from pricing.price_plans import PerUnit, PricePlan
from services.metering.invoicing.domain.charge_ledger import (
    ChargeLedger,
    LedgerEntry,
    LedgerKey,
    PriceBookVersions,
    ledger_entries,
)
from services.metering.invoicing.domain.invoice import BillingInvoice
from services.metering.invoicing.domain.invoice_pricing import price_invoice, rebuild_invoice
from services.metering.invoicing.domain.price_books import PriceBook
from services.metering.invoicing.domain.rating import RatedItem
from tests.unit.metering.invoicing.builders import (
    JAN,
    book,
    d,
    gpu_item,
    graduated,
    package,
    quantity_commitment,
    request_item,
    spend_commitment,
    volume,
)

PERIODS = ("2026-01", "2026-02", "2026-03")
MODELS = ("H100", "A100")
PROJECTS = ("p1", "p2", "p3")


def random_plan(rng: random.Random) -> PricePlan:
    price = Decimal(rng.randint(1, 400)) / 100
    plans: list[PricePlan] = [
        PerUnit(price),
        graduated((str(rng.randint(1, 20)), str(price)), (None, str(price / 2))),
        volume((str(rng.randint(1, 20)), str(price)), (None, str(price / 3))),
        package(str(rng.randint(1, 5)), str(price)),
    ]
    return rng.choice(plans)


def random_books(rng: random.Random) -> list[PriceBook]:
    books = []
    for index in range(rng.randint(1, 3)):
        commitments = rng.choice(
            [
                (),
                (spend_commitment(str(rng.randint(1, 2000)), "0.15"),),
                (quantity_commitment(str(rng.randint(1, 300)), "0.90"),),
            ]
        )
        books.append(
            book(
                gpu_hour={model: str(Decimal(rng.randint(50, 300)) / 100) for model in MODELS},
                per_request="0.0007",
                plans={
                    (MeterName.GPU_HOURS, model): random_plan(rng) for model in MODELS if rng.random() < 0.6
                }
                | ({(MeterName.REQUESTS, None): package("100", "0.05")} if rng.random() < 0.5 else {}),
                commitments=commitments,
                effective_from=JAN + timedelta(days=25 * index),
            )
        )
    return books


def play(
    rng: random.Random, books: list[PriceBook]
) -> tuple[list[RatedItem], dict[LedgerKey, Decimal], dict[str, BillingInvoice]]:
    """Rate a random stream of usage in time order, finalizing each month a few days after it ends."""
    versions = PriceBookVersions("acme", books)
    rollups: dict[LedgerKey, Decimal] = defaultdict(Decimal)  # what a pipeline would keep in its rows
    finalized: dict[str, BillingInvoice] = {}
    items: list[RatedItem] = []
    for day in range(0, 85):
        for period in PERIODS:
            due = PERIODS.index(period) * 30 + 33
            if day == due and period not in finalized:
                ledger = ChargeLedger.from_entries(versions, [LedgerEntry(k, q) for k, q in rollups.items()])
                finalized[period] = price_invoice(ledger, period, "USD")
        for _ in range(rng.randint(0, 3)):
            # Usage ends today, but may have started (and be late) up to 40 days ago.
            start = JAN + timedelta(
                days=max(0, day - rng.choice([0, 0, 1, 5, 40])), seconds=rng.randint(0, 86_000)
            )
            if rng.random() < 0.7:
                item = gpu_item(
                    rng.randint(1, 40_000),
                    books,
                    project_id=rng.choice(PROJECTS),
                    gpu_model=rng.choice(MODELS),
                    gpu_count=rng.randint(1, 4),
                    bound_at=start,
                    finalized=finalized,
                )
            else:
                item = request_item(
                    rng.randint(1, 5000),
                    books,
                    project_id=rng.choice(PROJECTS),
                    start=start,
                    finalized=finalized,
                )
            items.append(item)
            for entry in ledger_entries(item, versions):
                rollups[entry.key] += entry.base_quantity
    return items, rollups, finalized


@pytest.mark.parametrize("seed", range(30))
def test_rebuilding_from_raw_items_reaches_the_incremental_totals(seed: int) -> None:
    rng = random.Random(seed)
    books = random_books(rng)
    items, rollups, finalized = play(rng, books)
    rows = [LedgerEntry(k, q) for k, q in rollups.items()]
    rng.shuffle(rows)
    incremental = ChargeLedger.from_entries(PriceBookVersions("acme", books), rows)
    rng.shuffle(items)

    for period in PERIODS:
        rebuilt = rebuild_invoice(items, books, period, tenant_id="acme", currency="USD")
        kept = price_invoice(incremental, period, "USD")
        assert rebuilt == kept, f"seed {seed}, {period}"
        if period in finalized:  # late usage never changes a finalized invoice: it adjusts a later one
            assert finalized[period].lines == rebuilt.lines


@pytest.mark.parametrize("seed", range(10))
def test_per_unit_totals_are_the_exact_charges_within_half_a_cent_per_line(seed: int) -> None:
    rng = random.Random(1000 + seed)
    books = [
        book(gpu_hour={m: str(Decimal(rng.randint(50, 300)) / 100) for m in MODELS}, per_request="0.0007")
    ]
    items, _, _ = play(rng, books)
    invoices = [rebuild_invoice(items, books, period, tenant_id="acme", currency="USD") for period in PERIODS]

    exact = sum(
        (
            c.base_quantity * (c.unit_price or 0) / (3600 if c.meter is MeterName.GPU_HOURS else 1)
            for item in items
            if item.period in PERIODS
            for c in item.charges
        ),
        Decimal(0),
    )
    lines = sum(len(inv.lines) for inv in invoices)
    assert abs(sum(inv.total for inv in invoices) - exact) <= Decimal("0.005") * lines
    assert all(line.amount == line.amount.quantize(d("0.01")) for inv in invoices for line in inv.lines)
