"""FinOps FOCUS 1.2 export of invoices: one cost-and-usage row per invoice line.

Columns: every column FOCUS 1.2 makes mandatory, the conditional ones that apply to aifactory (usage
measurement, sub accounts = projects, negotiated and per-SKU pricing, resources = a project's GPUs of one
model), the recommended ChargeFrequency, InvoiceId and ServiceSubcategory, then x_ extension columns.
The commitment-discount columns are present and null: aifactory's commitments are negotiated discounts
with a minimum (pricing/commitments.py), not the prepaid purchases those columns describe (PricingCategory
"Committed" marks the lines they price); readers that test CommitmentDiscountStatus find the column.

Formats: datetimes ISO 8601 in UTC ("2026-01-01T00:00:00Z"); decimals as plain strings, never in
exponent form, always with a decimal point ("483.0" for 483 yen), so that readers that infer column
types (the FinOps validator's CSV loader among them) read a decimal column as decimals, not integers;
nulls as empty fields.

Rows (line kinds of invoice.py):
- usage: ChargeCategory "Usage", ChargeFrequency "Usage-Based", PricingCategory "Committed" when a
  commitment priced it, else "Standard"; ChargePeriod = the billing period.
- adjustment: as usage, with ChargeClass "Correction", ChargePeriod = the adjusted period and no
  ConsumedQuantity (the quantity is the PricingQuantity).
- commitment_shortfall: ChargeCategory "Adjustment" (a contractual true-up for the unused commitment,
  not a purchase of future usage: FOCUS requires EffectiveCost 0 on such purchases), "Recurring".
- prepaid_credit: ChargeCategory "Credit", ChargeFrequency "One-Time", no quantity, unit price or SKU.
Costs: BilledCost = EffectiveCost = the line's amount; ListCost = ContractedCost = its amount before
commitments (the tenant's price book is both its list and its contract). Unit prices are effective
ones, list cost / pricing quantity (28 digits), so that ListUnitPrice x PricingQuantity = ListCost holds
after the one rounding per line and for tiered and package plans alike. BilledCost of an InvoiceId sums
to the invoice's total.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from pricing.meters import MeterName
from pricing.money import QUANTITY, plain_decimal
from pricing.periods import as_utc, period_bounds
from services.metering.invoicing.domain.invoice import BillingInvoice, BillingLine, LineKind

FOCUS_COLUMNS: tuple[str, ...] = (
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "CommitmentDiscountCategory",
    "CommitmentDiscountId",
    "CommitmentDiscountName",
    "CommitmentDiscountQuantity",
    "CommitmentDiscountStatus",
    "CommitmentDiscountType",
    "CommitmentDiscountUnit",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ContractedCost",
    "ContractedUnitPrice",
    "EffectiveCost",
    "InvoiceId",
    "InvoiceIssuerName",
    "ListCost",
    "ListUnitPrice",
    "PricingCategory",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "ServiceCategory",
    "ServiceName",
    "ServiceSubcategory",
    "SkuId",
    "SkuMeter",
    "SkuPriceDetails",
    "SkuPriceId",
    "SubAccountId",
    "SubAccountName",
    "x_Meter",
    "x_GpuModel",
    "x_AdjustsPeriod",
    "x_InvoiceStatus",
)

# FOCUS UnitFormat spellings of the invoice units.
_PRICING_UNITS = {"GPU-hour": "GPU-Hours", "kWh": "kWh", "1k tokens": "1000 Tokens", "requests": "Requests"}
_SERVICES = {
    MeterName.GPU_HOURS: ("aifactory GPU compute", "Machine Learning"),
    MeterName.ENERGY_KWH: ("aifactory GPU compute", "Machine Learning"),
    MeterName.TOKENS_1K: ("aifactory inference", "Generative AI"),
    MeterName.REQUESTS: ("aifactory inference", "Generative AI"),
}
_DEFAULT_SERVICE = ("aifactory GPU compute", "Machine Learning")


@dataclass(frozen=True)
class FocusContext:
    """What FOCUS names that an invoice does not carry."""

    billing_account_name: str  # the tenant's display name
    project_names: Mapping[str, str] = field(default_factory=dict)  # project id -> name; else the id
    provider_name: str = "aifactory"
    publisher_name: str = "aifactory"
    invoice_issuer_name: str = "aifactory"


def focus_rows(invoice: BillingInvoice, context: FocusContext) -> list[dict[str, str]]:
    """One row per invoice line, keyed by FOCUS_COLUMNS, every value a string ("" for null)."""
    return [_row(invoice, line, context) for line in invoice.lines]


def focus_csv(invoices: Iterable[BillingInvoice], contexts: Mapping[str, FocusContext]) -> str:
    """The invoices' rows as one CSV (header first, columns in FOCUS_COLUMNS order, CRLF-free)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=FOCUS_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for invoice in invoices:
        writer.writerows(focus_rows(invoice, contexts[invoice.tenant_id]))
    return buffer.getvalue()


def _row(invoice: BillingInvoice, line: BillingLine, context: FocusContext) -> dict[str, str]:
    billing_start, billing_end = period_bounds(invoice.period)
    charge_start, charge_end = period_bounds(line.adjusts_period or invoice.period)
    is_credit = line.kind is LineKind.PREPAID_CREDIT
    service_name, subcategory = (
        _SERVICES.get(line.usage_meter, _DEFAULT_SERVICE) if line.usage_meter else _DEFAULT_SERVICE
    )
    row = {
        "BilledCost": _focus_decimal(line.amount),
        "BillingAccountId": invoice.tenant_id,
        "BillingAccountName": context.billing_account_name,
        "BillingCurrency": invoice.currency,
        "BillingPeriodEnd": _datetime(billing_end),
        "BillingPeriodStart": _datetime(billing_start),
        "ChargeCategory": _charge_category(line),
        "ChargeClass": "Correction" if line.kind is LineKind.ADJUSTMENT else "",
        "ChargeDescription": _description(line),
        "ChargeFrequency": _charge_frequency(line),
        "ChargePeriodEnd": _datetime(charge_end),
        "ChargePeriodStart": _datetime(charge_start),
        "ContractedCost": _focus_decimal(line.list_amount),
        "EffectiveCost": _focus_decimal(line.amount),
        "InvoiceId": invoice.invoice_id,
        "InvoiceIssuerName": context.invoice_issuer_name,
        "ListCost": _focus_decimal(line.list_amount),
        "ProviderName": context.provider_name,
        "PublisherName": context.publisher_name,
        "ServiceCategory": "AI and Machine Learning",
        "ServiceName": service_name,
        "ServiceSubcategory": subcategory,
        "SubAccountId": line.project_id or "",
        "SubAccountName": context.project_names.get(line.project_id, line.project_id)
        if line.project_id
        else "",
        "x_Meter": line.meter,
        "x_GpuModel": line.gpu_model or "",
        "x_AdjustsPeriod": line.adjusts_period or "",
        "x_InvoiceStatus": invoice.status.value,
    }
    row |= dict.fromkeys((c for c in FOCUS_COLUMNS if c.startswith("CommitmentDiscount")), "")
    row |= _pricing(line) if not is_credit else dict.fromkeys(_PRICING_COLUMNS, "")
    row |= _resource(invoice, line)
    return row


_PRICING_COLUMNS = (
    "ConsumedQuantity",
    "ConsumedUnit",
    "ContractedUnitPrice",
    "ListUnitPrice",
    "PricingCategory",
    "PricingQuantity",
    "PricingUnit",
    "SkuId",
    "SkuMeter",
    "SkuPriceDetails",
    "SkuPriceId",
)


def _pricing(line: BillingLine) -> dict[str, str]:
    unit = _PRICING_UNITS.get(line.unit, line.unit)
    effective = QUANTITY.divide(line.list_amount, line.quantity) if line.quantity else line.unit_price
    # Corrections may leave ConsumedQuantity null (FOCUS 1.2), and do: the usage was consumed in the
    # adjusted period, whose invoice already counted what it knew of.
    consumed = line.kind is LineKind.USAGE
    sku = _sku(line)
    return {
        "ConsumedQuantity": _focus_decimal(line.quantity) if consumed else "",
        "ConsumedUnit": unit if consumed else "",
        "ContractedUnitPrice": _focus_decimal(effective),
        "ListUnitPrice": _focus_decimal(effective),
        "PricingCategory": "Committed" if line.commitment_id else "Standard",
        "PricingQuantity": _focus_decimal(line.quantity),
        "PricingUnit": unit,
        "SkuId": sku,
        "SkuMeter": line.usage_meter.value if line.usage_meter else line.meter,
        "SkuPriceDetails": "",  # a tenant's price book is not a published price list
        "SkuPriceId": sku,
    }


def _sku(line: BillingLine) -> str:
    if line.kind is LineKind.COMMITMENT_SHORTFALL or (
        line.kind is LineKind.ADJUSTMENT and line.project_id is None
    ):
        return f"commitment:{line.commitment_id}"
    meter = line.usage_meter.value if line.usage_meter else line.meter
    return f"{meter}:{line.gpu_model}" if line.gpu_model else meter


def _resource(invoice: BillingInvoice, line: BillingLine) -> dict[str, str]:
    """A project's GPUs of one model are the resource behind GPU time and energy."""
    if line.project_id is None or line.usage_meter not in (MeterName.GPU_HOURS, MeterName.ENERGY_KWH):
        return {"ResourceId": "", "ResourceName": "", "ResourceType": ""}
    model = line.gpu_model or "all-models"
    return {
        "ResourceId": f"aifactory:{invoice.tenant_id}:{line.project_id}:gpus:{model}",
        "ResourceName": f"{line.project_id} {model} GPUs",
        "ResourceType": "GPU",
    }


def _charge_category(line: BillingLine) -> str:
    if line.kind is LineKind.PREPAID_CREDIT:
        return "Credit"
    if line.kind is LineKind.COMMITMENT_SHORTFALL or (
        line.kind is LineKind.ADJUSTMENT and line.project_id is None
    ):
        return "Adjustment"
    return "Usage"


def _charge_frequency(line: BillingLine) -> str:
    category = _charge_category(line)
    return {"Credit": "One-Time", "Adjustment": "Recurring"}.get(category, "Usage-Based")


def _description(line: BillingLine) -> str:
    what = {
        LineKind.USAGE: f"{line.meter} {line.gpu_model or ''}".strip(),
        LineKind.ADJUSTMENT: f"late usage of {line.adjusts_period}: {line.usage_meter or 'commitment'} {line.gpu_model or ''}".strip(),
        LineKind.COMMITMENT_SHORTFALL: f"unused commitment {line.commitment_id}",
        LineKind.PREPAID_CREDIT: "prepaid credit applied",
    }[line.kind]
    return f"{what} ({line.project_id})" if line.project_id else what


def _focus_decimal(value: Decimal) -> str:
    text = plain_decimal(value)
    return text if "." in text else f"{text}.0"


def _datetime(moment: datetime) -> str:
    return as_utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")
