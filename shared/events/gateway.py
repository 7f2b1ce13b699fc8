"""Events the gateway emits (stream GATEWAY)."""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar, Literal

from pydantic import Field

from shared.events.base import Event
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


class PriceBookSet(_GatewayEvent):
    """A tenant's price book, in effect from effective_from on. Prices are Decimal strings on the wire."""

    TYPE: ClassVar[str] = "gateway.v1.pricebook.set"
    SUBJECT: ClassVar[str] = TYPE
    ENTITY_FIELD: ClassVar[str | None] = "tenant_id"
    tenant_id: str
    currency: str
    gpu_hour: dict[str, Decimal]  # GPU model -> price per GPU-hour
    per_1k_tokens: Decimal = Decimal(0)
    per_request: Decimal = Decimal(0)
    per_kwh: Decimal = Decimal(0)


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
    on_exhaustion: Literal["continue", "stop"] = "continue"


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
