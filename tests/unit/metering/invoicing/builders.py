"""Test data for invoicing: price books with plans, rated items, invoices, budgets."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from pricing.budgets import Budget
from pricing.commitments import Commitment, CommitmentKind
from pricing.meters import MeterName
from pricing.price_plans import Package, PricePlan, Tier, Tiered, TierMode
from services.metering.invoicing.domain.invoice import BillingInvoice, InvoiceStatus, billing_invoice_id
from services.metering.invoicing.domain.invoice_pricing import rebuild_invoice
from services.metering.invoicing.domain.price_books import PriceBook
from services.metering.invoicing.domain.rating import RatedItem, rate_allocation, rate_usage
from tests.unit.metering.builders import interval, price_book, usage_window

JAN = datetime(2026, 1, 1, tzinfo=UTC)
FEB = datetime(2026, 2, 1, tzinfo=UTC)
MAR = datetime(2026, 3, 1, tzinfo=UTC)
HOUR = 3600


def d(value: str | int) -> Decimal:
    return Decimal(value)


def book(
    *,
    gpu_hour: dict[str, str] | None = None,
    plans: Mapping[tuple[MeterName, str | None], PricePlan] | None = None,
    commitments: Sequence[Commitment] = (),
    effective_from: datetime = JAN - timedelta(days=30),
    currency: str = "USD",
    tenant_id: str = "acme",
    per_request: str = "0",
    per_kwh: str = "0",
    per_1k_tokens: str = "0",
) -> PriceBook:
    base = price_book(
        tenant_id=tenant_id,
        currency=currency,
        effective_from=effective_from,
        gpu_hour=gpu_hour,
        per_request=per_request,
        per_kwh=per_kwh,
        per_1k_tokens=per_1k_tokens,
    )
    return replace(base, plans=dict(plans or {}), commitments=tuple(commitments)).validated()


def graduated(*tiers: tuple[str | None, str], fees: Sequence[str] = ()) -> Tiered:
    return _tiered(TierMode.GRADUATED, tiers, fees)


def volume(*tiers: tuple[str | None, str], fees: Sequence[str] = ()) -> Tiered:
    return _tiered(TierMode.VOLUME, tiers, fees)


def _tiered(mode: TierMode, tiers: Sequence[tuple[str | None, str]], fees: Sequence[str]) -> Tiered:
    padded = list(fees) + ["0"] * (len(tiers) - len(fees))
    return Tiered(
        tuple(
            Tier(None if up_to is None else d(up_to), d(price), d(fee))
            for (up_to, price), fee in zip(tiers, padded, strict=True)
        ),
        mode,
    )


def package(block_size: str, block_price: str) -> Package:
    return Package(d(block_size), d(block_price))


def spend_commitment(
    committed: str, discount: str, commitment_id: str = "c-spend", **scope: object
) -> Commitment:
    return Commitment(commitment_id, CommitmentKind.SPEND, d(committed), discount=d(discount), **scope)  # type: ignore[arg-type]


def quantity_commitment(
    committed: str, unit_price: str, gpu_model: str | None = "H100", commitment_id: str = "c-qty"
) -> Commitment:
    return Commitment(
        commitment_id,
        CommitmentKind.QUANTITY,
        d(committed),
        meter=MeterName.GPU_HOURS,
        gpu_model=gpu_model,
        unit_price=d(unit_price),
    )


def gpu_item(
    seconds: float,
    books: Sequence[PriceBook],
    *,
    project_id: str = "p1",
    gpu_model: str = "H100",
    gpu_count: int = 1,
    bound_at: datetime = JAN + timedelta(days=9),
    finalized: Iterable[str] = (),
    tenant_id: str = "acme",
) -> RatedItem:
    allocation = interval(
        seconds,
        project_id=project_id,
        gpu_model=gpu_model,
        gpu_count=gpu_count,
        bound_at=bound_at,
        tenant_id=tenant_id,
    )
    return rate_allocation(allocation, books, set(finalized))


def request_item(
    requests: int,
    books: Sequence[PriceBook],
    *,
    project_id: str = "p1",
    start: datetime = JAN + timedelta(days=9),
    finalized: Iterable[str] = (),
) -> RatedItem:
    return rate_usage(
        usage_window(project_id=project_id, requests=requests, start=start), books, set(finalized)
    )


def invoice(
    items: Iterable[RatedItem],
    books: Sequence[PriceBook],
    period: str = "2026-01",
    *,
    currency: str = "USD",
    opening_credit: str = "0",
    status: InvoiceStatus = InvoiceStatus.DRAFT,
    tenant_id: str = "acme",
) -> BillingInvoice:
    return rebuild_invoice(
        items,
        books,
        period,
        tenant_id=tenant_id,
        currency=currency,
        opening_credit=d(opening_credit),
        status=status,
    )


def empty_invoice(
    tenant_id: str, period: str, currency: str = "USD", status: InvoiceStatus = InvoiceStatus.DRAFT
) -> BillingInvoice:
    """The invoice of a period without usage: no lines, nothing to pay."""
    return BillingInvoice(
        invoice_id=billing_invoice_id(tenant_id, period),
        tenant_id=tenant_id,
        period=period,
        status=status,
        currency=currency,
        lines=(),
        subtotal=Decimal(0),
        credit_applied=Decimal(0),
        total=Decimal(0),
    )


def realistic_invoice() -> BillingInvoice:
    """February for acme: GPU time of two models, requests, a quantity commitment short of its target,
    late January usage (an adjustment) and prepaid credit."""
    books = [
        book(
            gpu_hour={"H100": "2.50", "A100": "1.10"},
            per_request="0.001",
            commitments=[quantity_commitment("5", "0.90", "A100")],
        )
    ]
    items = [
        gpu_item(7201, books, project_id="p1", bound_at=FEB + timedelta(days=1)),
        gpu_item(1000, books, project_id="p2", gpu_model="A100", bound_at=FEB + timedelta(days=4)),
        request_item(1234, books, project_id="p2", start=FEB + timedelta(days=5)),
        gpu_item(HOUR, books, bound_at=JAN + timedelta(days=30), finalized={"2026-01"}),
        gpu_item(2 * HOUR, books, bound_at=FEB + timedelta(days=2)),
    ]
    return invoice(items, books, "2026-02", opening_credit="3.00")


def tiered_yen_invoice() -> BillingInvoice:
    """January for a tenant billed in yen on graduated tiers: whole-yen amounts."""
    books = [
        book(
            tenant_id="kaisha",
            currency="JPY",
            plans={(MeterName.GPU_HOURS, "H100"): graduated(("10", "400"), (None, "350"))},
        )
    ]
    items = [
        gpu_item(9 * HOUR, books, project_id="vision", tenant_id="kaisha"),
        gpu_item(4.5 * HOUR, books, project_id="speech", tenant_id="kaisha"),
    ]
    return invoice(items, books, currency="JPY", tenant_id="kaisha")


def budget(
    amount: str = "1000",
    *,
    project_id: str | None = None,
    thresholds: Sequence[int] = (50, 80, 100),
    hard_cap: bool = False,
    period: str = "2026-01",
) -> Budget:
    return Budget(
        budget_id="b1",
        tenant_id="acme",
        project_id=project_id,
        period=period,
        amount=d(amount),
        currency="USD",
        thresholds_percent=tuple(Decimal(t) for t in thresholds),
        hard_cap=hard_cap,
    )
