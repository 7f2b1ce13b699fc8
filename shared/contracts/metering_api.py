"""Metering's internal HTTP API: its paths and the bodies of its answers, one definition that metering's
routes serve and the gateway's client reads (the gateway never imports metering).

Internal: the gateway calls it on behalf of a tenant it authenticated. Every call but GET /healthz
carries the gateway's signed assertion (`Authorization: AIFactory-Service <token>`,
shared/contracts/service_auth.py) for its method and path, naming that tenant or the operator's fleet
view: metering takes the tenant from it, never from the query string (a `tenant_id` parameter other
than the asserted tenant is refused, 403). No valid assertion: 401. Amounts and quantities are exact
decimal strings on the wire.

GET /v1/usage?start=2026-11-01&end=2026-12-01[&grain=day|hour|minute]
              [&group_by=project,gpu_model][&meter=gpu_seconds&meter=energy_j...][&project_id=P]
  200 UsageReport; 400 invalid_usage_query / 422 invalid_request: problem+json naming each parameter.
GET /v1/budgets[?period=YYYY-MM]                 200 TenantBudgets (default: the current period)
GET /v1/webhooks                                 200 TenantWebhooks (never the secrets)
GET /v1/webhooks/deliveries[?endpoint_id=E][&limit=50][&after=CURSOR]   200 TenantDeliveries:
    a page, newest first (created_at, then delivery_id); `after` takes the next_cursor of the page
    before (opaque); 400 invalid_cursor naming `after` for one that is not
GET /v1/chargeback?period=YYYY-MM[&idle=shared|separate_line]   200 ChargebackReport: the tenant's view
    in a tenant's scope, the fleet's in the operator's fleet scope
GET /v1/invoices/{invoice_id}/export?format=json|csv   200 the file; 404 not the tenant's
GET /v1/focus?period=YYYY-MM                     200 FinOps FOCUS 1.2 CSV
A tenant's routes in the fleet's scope: 403.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from pricing.budgets import OnExhaustion

USAGE_PATH = "/v1/usage"
BUDGETS_PATH = "/v1/budgets"
WEBHOOKS_PATH = "/v1/webhooks"
DELIVERIES_PATH = "/v1/webhooks/deliveries"
CHARGEBACK_PATH = "/v1/chargeback"
INVOICE_EXPORT_PATH = "/v1/invoices/{invoice_id}/export"
FOCUS_PATH = "/v1/focus"

MAX_DELIVERIES = 500
IdleMode = Literal["shared", "separate_line"]
ExportFormat = Literal["json", "csv"]


class UsageRow(BaseModel):
    window_start: datetime = Field(description="the start of the day (or hour, minute) in UTC")
    project_id: str | None = Field(description="null unless grouped by project")
    gpu_model: str | None = Field(description="null unless grouped by gpu_model; '' for usage of no GPU")
    meter: str
    unit: str
    sum: Decimal
    count: int = Field(description="how many records were summed")
    max: Decimal
    latest: Decimal
    latest_at: datetime


class UsageReport(BaseModel):
    tenant_id: str
    grain: str
    start: date
    end: date
    group_by: list[str]
    rows: list[UsageRow]


class BudgetStatus(BaseModel):
    """A budget as set, with its period's spend and the forecast of the period's end spend."""

    budget_id: str
    project_id: str | None
    amount: Decimal
    currency: str
    thresholds_percent: list[Decimal]
    hard_cap: bool
    on_exhaustion: OnExhaustion
    set_at: datetime
    spend: Decimal = Field(description="the period's spend so far")
    spend_as_of: datetime | None = Field(description="when the invoice the spend was read off was built")
    forecast_spend: Decimal = Field(description="the period's end spend at the burn rate so far")
    forecast_percent: Decimal
    thresholds_crossed: list[Decimal]
    exhausted: bool


class TenantBudgets(BaseModel):
    tenant_id: str
    period: str
    items: list[BudgetStatus]


class WebhookEndpoint(BaseModel):
    endpoint_id: str
    url: str
    event_types: list[str]
    active: bool
    set_at: datetime


class TenantWebhooks(BaseModel):
    tenant_id: str
    items: list[WebhookEndpoint]


class DeliveryAttempt(BaseModel):
    attempt: int
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: float
    next_retry_at: datetime | None


class Delivery(BaseModel):
    delivery_id: int
    endpoint_id: str
    event_id: UUID
    event_type: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime
    finished_at: datetime | None
    attempt_log: list[DeliveryAttempt]


class TenantDeliveries(BaseModel):
    """A page of the delivery log, newest first (created_at, then delivery_id, both descending)."""

    tenant_id: str
    items: list[Delivery]
    next_cursor: str | None = Field(
        default=None, description="pass as `after` for the next page (opaque); null on the last"
    )


class ChargebackLine(BaseModel):
    tenant_id: str
    project_id: str
    gpu_model: str
    used_gpu_seconds: Decimal = Field(description="the project's allocated GPU-seconds on this model")
    usage_cost: Decimal = Field(description="used GPU-seconds at the fleet rate, rounded once")
    idle_share: Decimal = Field(description="its share of the model's idle cost (shared mode), else 0")
    total: Decimal


class ModelSummary(BaseModel):
    gpu_model: str
    gpu_hour_rate: Decimal
    capacity_gpu_seconds: Decimal = Field(description="used + idle GPU-seconds metered in the period")
    used_gpu_seconds: Decimal
    idle_gpu_seconds: Decimal
    idle_cost: Decimal
    idle_line: Decimal = Field(description="the idle cost on its own line (all of it unless shared out)")


class UnratedUsage(BaseModel):
    gpu_model: str = Field(description="a GPU model the operator set no fleet rate for: not priced")
    used_gpu_seconds: Decimal
    idle_gpu_seconds: Decimal | None = Field(default=None, description="the fleet's view only")


class ChargebackReport(BaseModel):
    """What only one view has is None there, and left out of the JSON (response_model_exclude_none)."""

    scope: Literal["fleet", "tenant"]
    period: str
    currency: str
    idle: IdleMode = Field(description="shared or separate_line")
    tenant_id: str | None = Field(default=None, description="the tenant's view only")
    models: list[ModelSummary] | None = Field(default=None, description="the fleet's view only")
    lines: list[ChargebackLine]
    unrated: list[UnratedUsage]
    total: Decimal
