"""Rating: turning allocation intervals and usage records into priced charges.

Billing rules (the end-to-end tests recompute invoices from exactly these):

1. GPU time. Each released allocation is charged
   billable GPU-seconds = ceil((released_at - bound_at).total_seconds()) x gpu_count x gpu_share
   (per-second billing; a started second counts). gpu_share is the allocation's share of each GPU, in
   (0, 1] with at most 3 decimals (a fractional GPU time-sliced with others: 0.5 is half a GPU; an
   event without it is a whole GPU, 1). The product is an exact Decimal with at most 3 decimals, never
   rounded on its own (a half share held 3 s bills 1.5 GPU-seconds, not 2): like every charge, it is
   rounded once, with the others, on its invoice line. Its period is the calendar month (UTC, "YYYY-MM")
   of released_at. It is priced at the tenant's price per GPU-hour for its GPU model, from the price-book
   version in effect at bound_at (the interval's start). A model missing from that version is rejected
   ("no price for GPU model X in tenant T's price book"); a tenant with no price book yet is retried.
2. Energy, tokens, requests. Each usage record is charged energy_j joules, input_tokens + output_tokens
   tokens and `requests` requests, priced per kWh, per 1000 tokens and per request from the version in
   effect at window_start. Its period is the month of window_end.
3. Price-book versions take effect at their event's occurred_at. Usage from before a tenant's first
   version is priced with that first version.
4. Usage of the tenant "_fleet" (idle GPUs) is recorded, unpriced, and never invoiced.
5. A charge whose period is already finalized is billed on the next period whose invoice is still open.

Invoices (invoice.py, priced by invoice_pricing.py) continue these rules.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from uuid import UUID

from pricing.meters import MeterName
from pricing.money import EXACT
from pricing.periods import as_utc, open_period, period_of
from services.metering.domain.errors import InvalidInterval
from services.metering.invoicing.domain.price_books import PriceBook, price_book_in_effect

FLEET_TENANT = "_fleet"
_ONE_SECOND_US = 1_000_000


def is_invoiced(tenant_id: str) -> bool:
    return tenant_id != FLEET_TENANT


@dataclass(frozen=True)
class Charge:
    """A quantity of one meter in its base unit (GPU-seconds, joules, tokens, requests), at one price."""

    project_id: str
    meter: MeterName
    base_quantity: Decimal
    unit_price: Decimal | None  # per invoice unit; None: recorded only, never invoiced
    priced_at: datetime  # the instant whose price applies
    gpu_model: str | None = None


@dataclass(frozen=True)
class RatedItem:
    """One allocation interval or usage record, rated: the basis from which invoices are rebuilt."""

    source_event_id: UUID
    source_key: str  # the interval or record itself, so a copy under another event id is caught
    kind: str  # allocation | usage
    tenant_id: str
    project_id: str
    usage_period: str  # the month the usage belongs to
    period: str  # the month of the invoice that bills it (later when that month was already finalized)
    occurred_at: datetime
    priced_at: datetime
    charges: tuple[Charge, ...]


@dataclass(frozen=True)
class AllocationInterval:
    source_event_id: UUID
    tenant_id: str
    project_id: str
    allocation_id: str
    gpu_model: str
    gpu_count: int
    bound_at: datetime
    released_at: datetime
    gpu_share: Decimal = Decimal(1)  # of each GPU, in (0, 1]; 1 for whole GPUs


@dataclass(frozen=True)
class UsageWindow:
    source_event_id: UUID
    tenant_id: str
    project_id: str
    source: str
    source_id: str
    window_start: datetime
    window_end: datetime
    energy_j: Decimal = Decimal(0)
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


def billable_gpu_seconds(bound_at: datetime, released_at: datetime, gpu_count: int) -> int:
    """ceil of the interval in seconds, times the GPUs; exact to the microsecond (no float rounding)."""
    if gpu_count < 1:
        raise InvalidInterval(f"gpu_count must be at least 1, got {gpu_count}")
    duration = as_utc(released_at) - as_utc(bound_at)
    if duration < timedelta(0):
        raise InvalidInterval(
            f"released_at {released_at.isoformat()} is before bound_at {bound_at.isoformat()}"
        )
    microseconds = duration // timedelta(microseconds=1)
    return -(-microseconds // _ONE_SECOND_US) * gpu_count


def billable_share_seconds(interval: AllocationInterval) -> Decimal:
    """Rule 1's GPU-seconds: whole billable GPU-seconds times the share of each GPU, exact (no rounding)."""
    share = interval.gpu_share
    if not share.is_finite() or not 0 < share <= 1:
        raise InvalidInterval(f"gpu_share must be in (0, 1], got {share}")
    seconds = billable_gpu_seconds(interval.bound_at, interval.released_at, interval.gpu_count)
    return Decimal(seconds) if share == 1 else EXACT.multiply(Decimal(seconds), share)


def rate_allocation(
    interval: AllocationInterval, price_books: Sequence[PriceBook], finalized_periods: Collection[str]
) -> RatedItem:
    gpu_seconds = billable_share_seconds(interval)
    natural = period_of(interval.released_at)
    price: Decimal | None = None
    period = natural
    if is_invoiced(interval.tenant_id):
        book = price_book_in_effect(interval.tenant_id, price_books, interval.bound_at)
        price = book.gpu_hour_price(interval.gpu_model)
        period = open_period(natural, finalized_periods)
    charge = Charge(
        project_id=interval.project_id,
        meter=MeterName.GPU_HOURS,
        base_quantity=gpu_seconds,
        unit_price=price,
        priced_at=interval.bound_at,
        gpu_model=interval.gpu_model,
    )
    return RatedItem(
        source_event_id=interval.source_event_id,
        source_key=f"allocation:{interval.allocation_id}",
        kind="allocation",
        tenant_id=interval.tenant_id,
        project_id=interval.project_id,
        usage_period=natural,
        period=period,
        occurred_at=interval.released_at,
        priced_at=interval.bound_at,
        charges=(charge,) if gpu_seconds > 0 else (),
    )


def rate_usage(
    usage: UsageWindow, price_books: Sequence[PriceBook], finalized_periods: Collection[str]
) -> RatedItem:
    if as_utc(usage.window_end) < as_utc(usage.window_start):
        raise InvalidInterval(
            f"window_end {usage.window_end.isoformat()} is before window_start {usage.window_start.isoformat()}"
        )
    if not usage.energy_j.is_finite() or usage.energy_j < 0:
        raise InvalidInterval(f"energy_j must be a non-negative number, got {usage.energy_j}")
    natural = period_of(usage.window_end)
    quantities = {
        MeterName.ENERGY_KWH: usage.energy_j,
        MeterName.TOKENS_1K: Decimal(usage.input_tokens + usage.output_tokens),
        MeterName.REQUESTS: Decimal(usage.requests),
    }
    prices: dict[MeterName, Decimal | None] = dict.fromkeys(quantities)
    period = natural
    if is_invoiced(usage.tenant_id):
        book = price_book_in_effect(usage.tenant_id, price_books, usage.window_start)
        prices = {
            MeterName.ENERGY_KWH: book.per_kwh,
            MeterName.TOKENS_1K: book.per_1k_tokens,
            MeterName.REQUESTS: book.per_request,
        }
        period = open_period(natural, finalized_periods)
    charges = tuple(
        Charge(usage.project_id, meter, quantity, prices[meter], usage.window_start)
        for meter, quantity in quantities.items()
        if quantity > 0
    )
    return RatedItem(
        source_event_id=usage.source_event_id,
        source_key=f"usage:{usage.source}:{usage.source_id}",
        kind="usage",
        tenant_id=usage.tenant_id,
        project_id=usage.project_id,
        usage_period=natural,
        period=period,
        occurred_at=usage.window_end,
        priced_at=usage.window_start,
        charges=charges,
    )
