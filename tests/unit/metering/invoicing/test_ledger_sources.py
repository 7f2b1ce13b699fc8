"""Billing periods (ledger_sources.py), the price-book wire format both ways,
invoice rows both ways (older rows included), and older events still parsing."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from pricing.meters import MeterName
from services.metering.invoicing.adapters.invoice_rows import line_of_document
from services.metering.invoicing.app.price_book_specs import (
    commitment_documents,
    plan_documents,
    price_book_of_event,
    stored_price_book,
)
from services.metering.invoicing.domain.charge_ledger import PriceBookVersions
from services.metering.invoicing.domain.invoice import BillingLine, LineKind, line_document
from services.metering.invoicing.domain.ledger_sources import periods_from, previous_period
from services.metering.invoicing.domain.price_books import PriceBook
from shared.events.gateway import CommitmentSpec, PriceBookSet, PricePlanSpec, PriceTier
from shared.events.metering import InvoiceUpdated

JAN, FEB = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)


def versions(*books: PriceBook) -> PriceBookVersions:
    return PriceBookVersions("acme", books)


def test_periods_step_back_and_forth_across_years() -> None:
    assert previous_period("2026-01") == "2025-12" and previous_period("2026-03") == "2026-02"
    assert periods_from("2025-11", "2026-02") == ["2025-11", "2025-12", "2026-01"]
    assert periods_from("2026-02", "2026-02") == []


def test_a_price_book_event_with_plans_and_commitments_is_stored_and_read_back_unchanged() -> None:
    event = PriceBookSet(
        occurred_at=JAN,
        tenant_id="acme",
        currency="USD",  # ISO 4217 as written: "usd" is refused (pricing.money)
        gpu_hour={"A100": Decimal("1.5")},
        plans=[
            PricePlanSpec(
                meter="gpu_hours",
                gpu_model="H100",
                kind="tiered",
                mode="volume",
                tiers=[
                    PriceTier(up_to=Decimal(10), unit_price=Decimal(3), flat_fee=Decimal(1)),
                    PriceTier(unit_price=Decimal(2)),
                ],
            ),
            PricePlanSpec(meter="requests", kind="package", block_size=Decimal(100), block_price=Decimal(5)),
        ],
        commitments=[
            CommitmentSpec(
                commitment_id="c",
                kind="quantity",
                committed=Decimal(5),
                meter="gpu_hours",
                unit_price=Decimal(1),
            )
        ],
        effective_from=FEB,
    )
    book = price_book_of_event(event)
    per_unit = (book.gpu_hour, book.per_1k_tokens, book.per_request, book.per_kwh)

    stored = stored_price_book(
        "acme",
        book.currency,
        book.effective_from,
        per_unit,
        plan_documents(book.plans),
        commitment_documents(book.commitments),
    )

    assert (book.currency, book.effective_from) == ("USD", FEB)
    assert stored == book


def test_an_older_price_book_event_and_invoice_snapshot_still_parse() -> None:
    old_book = '{"event_id": "8f7c3a52-7d3b-4d55-9a43-3a1b2f3c4d5e", "occurred_at": "2026-01-01T00:00:00Z", "tenant_id": "acme", "currency": "USD", "gpu_hour": {"H100": "2.50"}}'
    old_snapshot = (
        '{"occurred_at": "2026-01-01T00:00:00Z", "tenant_id": "acme", "invoice_id": "inv_acme_2026-01", "period": "2026-01", '
        '"status": "draft", "currency": "USD", "total": "5.00", "lines": [{"project_id": "p1", "meter": "gpu_hours", '
        '"gpu_model": "H100", "quantity": "2", "unit": "GPU-hour", "unit_price": "2.50", "amount": "5.00"}]}'
    )

    book = PriceBookSet.model_validate_json(old_book)
    snapshot = InvoiceUpdated.model_validate_json(old_snapshot)

    assert (book.plans, book.commitments, book.effective_from) == ([], [], None)
    assert (snapshot.revision, snapshot.credit_applied, snapshot.lines[0].kind) == (1, 0, "usage")


def test_invoice_lines_are_stored_whole_and_older_rows_read_as_usage_lines() -> None:
    shortfall = BillingLine(
        kind=LineKind.COMMITMENT_SHORTFALL,
        project_id=None,
        meter="commitment_shortfall",
        usage_meter=MeterName.GPU_HOURS,
        gpu_model="H100",
        quantity=Decimal("1.5"),
        unit="GPU-hour",
        unit_price=Decimal(2),
        list_amount=Decimal("3.00"),
        amount=Decimal("3.00"),
        commitment_id="c",
    )
    older = {
        "project_id": "p1",
        "meter": "requests",
        "gpu_model": None,
        "quantity": "3",
        "unit": "requests",
        "unit_price": "0.01",
        "amount": "0.03",
    }

    assert line_of_document(line_document(shortfall)) == shortfall
    line = line_of_document(older)
    assert (line.kind, line.usage_meter, line.list_amount, line.amount) == (
        LineKind.USAGE,
        MeterName.REQUESTS,
        Decimal("0.03"),
        Decimal("0.03"),
    )
