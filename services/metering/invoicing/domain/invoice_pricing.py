"""Pricing an invoice from the charge ledger (charge_ledger.py), by the rules in invoice.py's docstring.

price_invoice is the incremental path (a ledger kept up to date item by item); rebuild_invoice starts
from the raw rated items and must, and does, reach the same lines and totals.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from pricing.commitments import (
    Commitment,
    CommitmentKind,
    LineKey,
    Shortfall,
    apply_commitments,
)
from pricing.credits import apply_prepaid_credit
from pricing.meters import METER_ORDER, METERS, MeterName
from pricing.money import EXACT, QUANTITY, exact_sum, normalize_currency, round_money
from pricing.periods import as_utc, last_instant, validate_period
from pricing.price_plans import PerUnit, plan_cost, reference_unit_price
from services.metering.domain.errors import DuplicateSource
from services.metering.invoicing.domain.charge_ledger import ChargeLedger, LedgerEntry, PriceBookVersions
from services.metering.invoicing.domain.invoice import (
    ADJUSTMENT_METER,
    CREDIT_METER,
    SHORTFALL_METER,
    BillingInvoice,
    BillingLine,
    InvoiceStatus,
    LineKind,
    billing_invoice_id,
)
from services.metering.invoicing.domain.price_books import PriceBook
from services.metering.invoicing.domain.rating import RatedItem

ZERO = Decimal(0)
_Segment = tuple[datetime, MeterName, str | None]  # price-book version, meter, GPU model


@dataclass
class _PricedUsage:
    """One usage period priced: exact amounts per line, before rounding."""

    base: dict[LineKey, Decimal] = field(default_factory=dict)
    list_exact: dict[LineKey, Decimal] = field(default_factory=dict)
    net_exact: dict[LineKey, Decimal] = field(default_factory=dict)
    unit_price: dict[LineKey, Decimal] = field(default_factory=dict)
    covered_by: dict[LineKey, str] = field(default_factory=dict)
    shortfalls: dict[str, Shortfall] = field(default_factory=dict)


def price_invoice(
    ledger: ChargeLedger,
    period: str,
    currency: str,
    *,
    opening_credit: Decimal = ZERO,
    status: InvoiceStatus = InvoiceStatus.DRAFT,
    revision: int = 1,
    replaces: str | None = None,
) -> BillingInvoice:
    """The tenant's invoice for `period`: its own usage, shortfalls, adjustments, then prepaid credit."""
    period = validate_period(period)
    currency = normalize_currency(currency)
    own = _price_usage(ledger.select(usage_period=period, billed_in=[period]), ledger.versions, period)
    lines = _usage_lines(own, currency)
    lines += [_shortfall_line(shortfall, currency) for shortfall in own.shortfalls.values()]
    pairs = ledger.periods()
    for usage_period in sorted({usage for billed, usage in pairs if billed == period and usage < period}):
        earlier = [billed for billed, usage in pairs if usage == usage_period and billed < period]
        before = _price_usage(
            ledger.select(usage_period=usage_period, billed_in=earlier), ledger.versions, usage_period
        )
        both = ledger.select(usage_period=usage_period, billed_in=[*earlier, period])
        after = _price_usage(both, ledger.versions, usage_period)
        late = _base_by_line(ledger.select(usage_period=usage_period, billed_in=[period]))
        lines += _adjustment_lines(before, after, late, usage_period, currency)
    subtotal = round_money(exact_sum(line.amount for line in lines), currency)
    credit = apply_prepaid_credit(subtotal, opening_credit, currency)
    if credit.applied:
        lines.append(_credit_line(credit.applied))
    return BillingInvoice(
        invoice_id=billing_invoice_id(ledger.tenant_id, period, revision),
        tenant_id=ledger.tenant_id,
        period=period,
        status=status,
        currency=currency,
        lines=tuple(lines),
        subtotal=subtotal,
        credit_applied=credit.applied,
        total=subtotal - credit.applied,
        credit_opening=credit.opening,
        credit_remaining=credit.remaining,
        revision=revision,
        replaces=replaces,
    )


def rebuild_invoice(
    rated_items: Iterable[RatedItem],
    price_book_versions: Sequence[PriceBook],
    period: str,
    *,
    tenant_id: str,
    currency: str,
    opening_credit: Decimal = ZERO,
    status: InvoiceStatus = InvoiceStatus.DRAFT,
    revision: int = 1,
    replaces: str | None = None,
) -> BillingInvoice:
    """Recompute an invoice from every rated item of the tenant (any period: adjustments need the
    periods they adjust). A copy of an item (same source and event) counts once; the same source under
    another event id is DuplicateSource, as in the pipeline."""
    versions = PriceBookVersions(tenant_id, price_book_versions)
    ledger = ChargeLedger(versions)
    holders: dict[str, UUID] = {}
    for item in rated_items:
        holder = holders.get(item.source_key)
        if holder is None:
            holders[item.source_key] = item.source_event_id
            ledger.add_rated_item(item)
        elif holder != item.source_event_id:
            raise DuplicateSource(
                f"{item.source_key} of tenant {item.tenant_id} was already billed from event {holder}"
            )
    return price_invoice(
        ledger,
        period,
        currency,
        opening_credit=opening_credit,
        status=status,
        revision=revision,
        replaces=replaces,
    )


def _price_usage(
    entries: Iterable[LedgerEntry], versions: PriceBookVersions, usage_period: str
) -> _PricedUsage:
    segments: dict[_Segment, dict[str, Decimal]] = {}
    for entry in entries:
        key = entry.key
        per_project = segments.setdefault((key.version, key.meter, key.gpu_model), {})
        per_project[key.project_id] = EXACT.add(per_project.get(key.project_id, ZERO), entry.base_quantity)
    priced = _PricedUsage()
    latest_version: dict[LineKey, datetime] = {}
    # Sorted throughout, so that the 60-digit arithmetic sees the same operations in the same order
    # whatever order the entries came in (the incremental and the rebuilt invoice agree to the digit).
    for (version, meter, gpu_model), per_project in sorted(
        segments.items(), key=lambda s: _segment_order(s[0])
    ):
        plan = versions.book(version).plan_for(meter, gpu_model)
        divisor = Decimal(METERS[meter].base_per_unit)
        segment_base = exact_sum(per_project.values())
        segment_cost = (
            ZERO if isinstance(plan, PerUnit) else plan_cost(plan, EXACT.divide(segment_base, divisor))
        )
        for project_id, base in sorted(per_project.items()):
            line: LineKey = (project_id, meter, gpu_model)
            if isinstance(plan, PerUnit):  # multiplied before dividing: exact halves stay exact
                cost = EXACT.divide(EXACT.multiply(base, plan.unit_price), divisor)
            else:  # the tenant-wide cost of the segment, split in proportion to quantity
                cost = EXACT.divide(EXACT.multiply(segment_cost, base), segment_base)
            priced.base[line] = EXACT.add(priced.base.get(line, ZERO), base)
            priced.list_exact[line] = EXACT.add(priced.list_exact.get(line, ZERO), cost)
            if version >= latest_version.get(line, version):
                latest_version[line] = version
                priced.unit_price[line] = reference_unit_price(plan)
    quantities = {
        line: EXACT.divide(base, Decimal(METERS[line[1]].base_per_unit)) for line, base in priced.base.items()
    }
    committed = apply_commitments(priced.list_exact, quantities, _commitments_of(versions, usage_period))
    priced.net_exact = committed.net
    priced.covered_by = committed.covered_by
    priced.shortfalls = {s.commitment.commitment_id: s for s in committed.shortfalls}
    return priced


def _segment_order(segment: _Segment) -> tuple[datetime, int, str]:
    version, meter, gpu_model = segment
    return version, METER_ORDER[meter], gpu_model or ""


def _commitments_of(versions: PriceBookVersions, usage_period: str) -> tuple[Commitment, ...]:
    """Commitments of the version in effect at the period's last instant, if it is in effect by then
    (the fallback to a tenant's first version prices early usage, but does not commit earlier months)."""
    end = last_instant(usage_period)
    book = versions.book_at(end)
    return book.commitments if as_utc(book.effective_from) <= end else ()


def _base_by_line(entries: Iterable[LedgerEntry]) -> dict[LineKey, Decimal]:
    totals: dict[LineKey, Decimal] = {}
    for entry in entries:
        line = (entry.key.project_id, entry.key.meter, entry.key.gpu_model)
        totals[line] = EXACT.add(totals.get(line, ZERO), entry.base_quantity)
    return totals


def _line_order(line: LineKey) -> tuple[str, int, str]:
    return line[0], METER_ORDER[line[1]], line[2] or ""


def _invoice_quantity(line: LineKey, base: Decimal) -> Decimal:
    return QUANTITY.divide(base, Decimal(METERS[line[1]].base_per_unit))


def _usage_lines(priced: _PricedUsage, currency: str) -> list[BillingLine]:
    return [
        BillingLine(
            kind=LineKind.USAGE,
            project_id=line[0],
            meter=line[1].value,
            usage_meter=line[1],
            gpu_model=line[2],
            quantity=_invoice_quantity(line, priced.base[line]),
            unit=METERS[line[1]].unit,
            unit_price=priced.unit_price[line],
            list_amount=round_money(priced.list_exact[line], currency),
            amount=round_money(priced.net_exact[line], currency),
            commitment_id=priced.covered_by.get(line),
        )
        for line in sorted(priced.base, key=_line_order)
        if priced.base[line] != 0
    ]


def _shortfall_line(
    shortfall: Shortfall, currency: str, adjusts: str | None = None, amount: Decimal | None = None
) -> BillingLine:
    commitment = shortfall.commitment
    exact = shortfall.amount if amount is None else amount
    by_quantity = commitment.kind is CommitmentKind.QUANTITY and commitment.meter is not None
    rounded = round_money(exact, currency)
    return BillingLine(
        kind=LineKind.COMMITMENT_SHORTFALL if adjusts is None else LineKind.ADJUSTMENT,
        project_id=None,
        meter=SHORTFALL_METER if adjusts is None else ADJUSTMENT_METER,
        usage_meter=commitment.meter,
        gpu_model=commitment.gpu_model,
        quantity=QUANTITY.plus(shortfall.quantity)
        if by_quantity and shortfall.quantity is not None
        else Decimal(1),
        unit=METERS[commitment.meter].unit if by_quantity and commitment.meter else "commitment",
        unit_price=commitment.unit_price if by_quantity else rounded,
        list_amount=rounded,
        amount=rounded,
        adjusts_period=adjusts,
        commitment_id=commitment.commitment_id,
    )


def _adjustment_lines(
    before: _PricedUsage, after: _PricedUsage, late: dict[LineKey, Decimal], usage_period: str, currency: str
) -> list[BillingLine]:
    lines: list[BillingLine] = []
    for line in sorted(set(after.base) | set(before.base), key=_line_order):
        amount = round_money(
            EXACT.subtract(after.net_exact.get(line, ZERO), before.net_exact.get(line, ZERO)), currency
        )
        base = late.get(line, ZERO)
        if base == 0 and amount == 0:
            continue
        list_amount = EXACT.subtract(after.list_exact.get(line, ZERO), before.list_exact.get(line, ZERO))
        lines.append(
            BillingLine(
                kind=LineKind.ADJUSTMENT,
                project_id=line[0],
                meter=ADJUSTMENT_METER,
                usage_meter=line[1],
                gpu_model=line[2],
                quantity=_invoice_quantity(line, base),
                unit=METERS[line[1]].unit,
                unit_price=after.unit_price.get(line, before.unit_price.get(line, ZERO)),
                list_amount=round_money(list_amount, currency),
                amount=amount,
                adjusts_period=usage_period,
                commitment_id=after.covered_by.get(line),
            )
        )
    for commitment_id in sorted(set(after.shortfalls) | set(before.shortfalls)):
        new, old = after.shortfalls.get(commitment_id), before.shortfalls.get(commitment_id)
        either = new or old
        assert either is not None
        change = EXACT.subtract(new.amount if new else ZERO, old.amount if old else ZERO)
        if round_money(change, currency) == 0:
            continue
        unused = None
        if either.commitment.kind is CommitmentKind.QUANTITY:
            unused = (new.quantity or ZERO if new else ZERO) - (old.quantity or ZERO if old else ZERO)
        lines.append(_shortfall_line(Shortfall(either.commitment, unused, change), currency, usage_period))
    return lines


def _credit_line(applied: Decimal) -> BillingLine:
    return BillingLine(
        kind=LineKind.PREPAID_CREDIT,
        project_id=None,
        meter=CREDIT_METER,
        usage_meter=None,
        gpu_model=None,
        quantity=Decimal(1),
        unit="credit",
        unit_price=-applied,
        list_amount=-applied,
        amount=-applied,
    )
