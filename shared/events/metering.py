"""Events metering emits (stream METERING): invoice snapshots for read models and external billing."""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from pricing.budgets import OnExhaustion
from shared.events.base import Contract, Event


class InvoiceLine(Contract):
    project_id: str | None  # None on tenant-wide lines (commitment shortfall, prepaid credit)
    meter: str  # gpu_hours | tokens_1k | requests | energy_kwh | adjustment | commitment_shortfall | prepaid_credit
    gpu_model: str | None = None
    quantity: Decimal
    unit: str
    unit_price: Decimal
    amount: Decimal
    # Added later, optional so that older snapshots still parse (their lines are all usage lines).
    kind: str = "usage"  # usage | adjustment | commitment_shortfall | prepaid_credit
    usage_meter: str | None = None  # the metered quantity behind the line
    list_amount: Decimal | None = None  # before committed-use discounts
    adjusts_period: str | None = None  # adjustments: the finalized period whose late usage this is
    commitment_id: str | None = None


class _InvoiceSnapshot(Event):
    PRODUCER: ClassVar[str] = "metering"
    ENTITY_FIELD: ClassVar[str | None] = "invoice_id"
    tenant_id: str
    invoice_id: str
    period: str  # YYYY-MM
    status: str  # draft | finalized | void
    currency: str
    lines: list[InvoiceLine]
    total: Decimal  # what the tenant pays: subtotal - credit_applied
    # Added later, optional (older snapshots have no credit, one revision).
    subtotal: Decimal | None = None
    credit_applied: Decimal = Decimal(0)
    revision: int = 1
    replaces: str | None = None  # the voided invoice this one replaces
    void_reason: str | None = None


class InvoiceUpdated(_InvoiceSnapshot):
    TYPE: ClassVar[str] = "metering.v1.invoice.updated"
    SUBJECT: ClassVar[str] = TYPE


class InvoiceFinalized(_InvoiceSnapshot):
    TYPE: ClassVar[str] = "metering.v1.invoice.finalized"
    SUBJECT: ClassVar[str] = TYPE


class InvoiceVoided(_InvoiceSnapshot):
    """A finalized invoice withdrawn (kept, status void); its replacement draft follows as InvoiceUpdated."""

    TYPE: ClassVar[str] = "metering.v1.invoice.voided"
    SUBJECT: ClassVar[str] = TYPE


# Billing events for external billing systems (docs/billing-events.md) ----------------------------


class RatedCharge(Contract):
    """Usage of one meter at one price. amount = quantity x unit_price, exact: invoices round per line."""

    project_id: str
    meter: str  # gpu_hours | tokens_1k | requests | energy_kwh
    gpu_model: str | None = None
    quantity: Decimal  # in `unit`
    unit: str
    unit_price: Decimal
    amount: Decimal


class UsageRated(Event):
    """Usage priced and billed on an invoice: one released allocation, or one batch of usage records."""

    TYPE: ClassVar[str] = "metering.v1.usage.rated"
    SUBJECT: ClassVar[str] = TYPE
    PRODUCER: ClassVar[str] = "metering"
    ENTITY_FIELD: ClassVar[str | None] = "source_id"
    tenant_id: str
    source_kind: str  # allocation | usage_batch
    source_id: str  # the allocation id, or the first usage event id of the batch
    period: str  # YYYY-MM of the invoice that bills it
    currency: str
    charges: list[RatedCharge]


class _BudgetEvent(Event):
    PRODUCER: ClassVar[str] = "metering"
    ENTITY_FIELD: ClassVar[str | None] = "budget_id"
    tenant_id: str
    budget_id: str
    project_id: str | None = None  # None: the tenant's whole spend
    period: str  # YYYY-MM
    amount: Decimal  # the budget
    currency: str
    spend: Decimal  # the period's spend so far, when decided
    forecast_spend: Decimal  # the period's end spend at the current burn rate


class BudgetThresholdCrossed(_BudgetEvent):
    TYPE: ClassVar[str] = "metering.v1.budget.threshold_crossed"
    SUBJECT: ClassVar[str] = TYPE
    threshold_percent: Decimal


class BudgetExhausted(_BudgetEvent):
    """A hard cap reached: no new work of the scope is admitted; running work continues or stops."""

    TYPE: ClassVar[str] = "metering.v1.budget.exhausted"
    SUBJECT: ClassVar[str] = TYPE
    on_exhaustion: OnExhaustion


class BudgetRestored(_BudgetEvent):
    """An exhausted budget is open again in its period (raised, or its hard cap lifted)."""

    TYPE: ClassVar[str] = "metering.v1.budget.restored"
    SUBJECT: ClassVar[str] = TYPE
    reason: str


class WebhookDeliveryFailed(Event):
    """A webhook delivery that gave up after its last attempt (the delivery log has every attempt)."""

    TYPE: ClassVar[str] = "metering.v1.webhook.delivery_failed"
    SUBJECT: ClassVar[str] = TYPE
    PRODUCER: ClassVar[str] = "metering"
    ENTITY_FIELD: ClassVar[str | None] = "endpoint_id"
    tenant_id: str
    endpoint_id: str
    delivery_id: int
    delivered_event_id: str
    delivered_event_type: str
    attempts: int
    last_error: str


# What tenants' webhooks may subscribe to; the CloudEvents types above.
BILLING_EVENTS: tuple[type[Event], ...] = (
    InvoiceFinalized,
    InvoiceVoided,
    UsageRated,
    BudgetThresholdCrossed,
    BudgetExhausted,
    BudgetRestored,
)
