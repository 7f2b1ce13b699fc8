"""Events the gateway emits (stream GATEWAY)."""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from pydantic import AwareDatetime, Field

from pricing.budgets import OnExhaustion
from pricing.commitments import CommitmentKind
from pricing.meters import MeterName
from pricing.price_plans import PlanKind, TierMode
from shared.events.base import Contract, Event
from shared.events.jobs import JobSpec


class _GatewayEvent(Event):
    PRODUCER: ClassVar[str] = "gateway"


class TenantCreated(_GatewayEvent):
    TYPE: ClassVar[str] = "gateway.v1.tenant.created"
    SUBJECT: ClassVar[str] = TYPE
    ENTITY_FIELD: ClassVar[str | None] = "tenant_id"
    tenant_id: str
    name: str
    currency: str = "USD"


class ProjectCreated(_GatewayEvent):
    TYPE: ClassVar[str] = "gateway.v1.project.created"
    SUBJECT: ClassVar[str] = TYPE
    ENTITY_FIELD: ClassVar[str | None] = "project_id"
    tenant_id: str
    project_id: str
    name: str


class QuotaSet(_GatewayEvent):
    """A project's GPU quota for one GPU model (GPUs in use at once)."""

    TYPE: ClassVar[str] = "gateway.v1.quota.set"
    SUBJECT: ClassVar[str] = TYPE
    ENTITY_FIELD: ClassVar[str | None] = "project_id"
    tenant_id: str
    project_id: str
    gpu_model: str
    gpus: int = Field(ge=0)


class PriceTier(Contract):
    up_to: Decimal | None = None  # inclusive upper bound in invoice units; None on the last tier
    unit_price: Decimal
    flat_fee: Decimal = Decimal(0)


class PricePlanSpec(Contract):
    """A meter's (for gpu_hours: a GPU model's) plan instead of its per-unit price (pricing.price_plans;
    pricing.price_books checks it)."""

    meter: MeterName
    gpu_model: str | None = None  # required for gpu_hours, absent otherwise
    kind: PlanKind
    unit_price: Decimal | None = None  # per_unit
    mode: TierMode = TierMode.GRADUATED  # tiered
    tiers: list[PriceTier] = []  # tiered
    block_size: Decimal | None = None  # package: invoice units per block
    block_price: Decimal | None = None  # package


class CommitmentSpec(Contract):
    """A committed-use discount (pricing.commitments): a monthly spend or quantity."""

    commitment_id: str
    kind: CommitmentKind
    committed: Decimal
    meter: MeterName | None = None
    gpu_model: str | None = None
    discount: Decimal = Decimal(0)  # spend: fraction off list prices
    unit_price: Decimal = Decimal(0)  # quantity: the committed price per unit


class PriceBookSet(_GatewayEvent):
    """A tenant's price book, in effect from effective_from on (occurred_at when absent). Prices are
    Decimal strings on the wire; plans and commitments are optional (older events have neither)."""

    TYPE: ClassVar[str] = "gateway.v1.pricebook.set"
    SUBJECT: ClassVar[str] = TYPE
    ENTITY_FIELD: ClassVar[str | None] = "tenant_id"
    tenant_id: str
    currency: str
    gpu_hour: dict[str, Decimal]  # GPU model -> price per GPU-hour
    per_1k_tokens: Decimal = Decimal(0)
    per_request: Decimal = Decimal(0)
    per_kwh: Decimal = Decimal(0)
    plans: list[PricePlanSpec] = []
    commitments: list[CommitmentSpec] = []
    effective_from: AwareDatetime | None = None


class CreditGranted(_GatewayEvent):
    """Prepaid credit granted to a tenant; its invoices draw it down (pricing.credits)."""

    TYPE: ClassVar[str] = "gateway.v1.credit.granted"
    SUBJECT: ClassVar[str] = TYPE
    ENTITY_FIELD: ClassVar[str | None] = "grant_id"
    tenant_id: str
    grant_id: str
    amount: Decimal
    currency: str
    note: str = ""


class InvoiceVoidRequested(_GatewayEvent):
    """Void a finalized invoice; metering keeps it, marked void, and opens a replacement draft."""

    TYPE: ClassVar[str] = "gateway.v1.invoice.void_requested"
    SUBJECT: ClassVar[str] = TYPE
    ENTITY_FIELD: ClassVar[str | None] = "invoice_id"
    tenant_id: str
    invoice_id: str
    reason: str


class JobSubmitted(_GatewayEvent):
    TYPE: ClassVar[str] = "gateway.v1.job.submitted"
    SUBJECT: ClassVar[str] = TYPE
    ENTITY_FIELD: ClassVar[str | None] = "job_id"
    tenant_id: str
    project_id: str
    job_id: str
    spec: JobSpec


class JobCancelRequested(_GatewayEvent):
    TYPE: ClassVar[str] = "gateway.v1.job.cancel_requested"
    SUBJECT: ClassVar[str] = TYPE
    ENTITY_FIELD: ClassVar[str | None] = "job_id"
    tenant_id: str
    job_id: str


class InvoiceFinalizeRequested(_GatewayEvent):
    TYPE: ClassVar[str] = "gateway.v1.invoice.finalize_requested"
    SUBJECT: ClassVar[str] = TYPE
    ENTITY_FIELD: ClassVar[str | None] = "period"
    tenant_id: str
    period: str  # YYYY-MM


class BudgetSet(_GatewayEvent):
    """A project's or tenant's budget per billing period (a calendar month, UTC), from now on.

    Thresholds announce spend crossing those percentages of `amount`; with `hard_cap`, reaching
    `amount` exhausts the budget: no new work of the scope is admitted, and running work continues or
    stops as `on_exhaustion` says.
    """

    TYPE: ClassVar[str] = "gateway.v1.budget.set"
    SUBJECT: ClassVar[str] = TYPE
    ENTITY_FIELD: ClassVar[str | None] = "budget_id"
    tenant_id: str
    budget_id: str
    project_id: str | None = None  # None: the tenant's whole spend
    amount: Decimal
    currency: str
    thresholds_percent: list[Decimal]
    hard_cap: bool = False
    on_exhaustion: OnExhaustion = OnExhaustion.CONTINUE


class WebhookEndpointSet(_GatewayEvent):
    """A tenant's webhook endpoint for billing events, new or replaced. `secret` signs the deliveries
    (this stream is internal: who may read it may read the secrets)."""

    TYPE: ClassVar[str] = "gateway.v1.webhook.set"
    SUBJECT: ClassVar[str] = TYPE
    ENTITY_FIELD: ClassVar[str | None] = "endpoint_id"
    tenant_id: str
    endpoint_id: str
    url: str
    secret: str
    event_types: list[str]  # CloudEvents types; empty: every billing event


class WebhookEndpointRemoved(_GatewayEvent):
    TYPE: ClassVar[str] = "gateway.v1.webhook.removed"
    SUBJECT: ClassVar[str] = TYPE
    ENTITY_FIELD: ClassVar[str | None] = "endpoint_id"
    tenant_id: str
    endpoint_id: str
