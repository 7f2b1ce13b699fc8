"""Request and response bodies of the HTTP API. Requests forbid unknown fields, so typos are reported."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt

from services.gateway.domain.model import Invoice, Job, Node, Project
from shared.events.gateway import CommitmentSpec, PriceBookSet, PricePlanSpec
from shared.events.jobs import JobSpec, JobState, JobSubmission
from shared.events.metering import InvoiceLine


class RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


Name = Annotated[str, Field(min_length=1, max_length=200)]
Identifier = Annotated[str, Field(min_length=1, max_length=100)]


class CreateTenantRequest(RequestBody):
    name: Name
    currency: str = Field(default="USD", description="ISO 4217 code, three upper-case letters")


class CreateProjectRequest(RequestBody):
    name: Name
    tenant_id: str | None = Field(default=None, description="required for the operator; tenant keys omit it")
    max_priority_class: str | None = Field(
        default=None,
        max_length=100,
        description="operator only: the highest priority class the project's jobs may name (default: the "
        "operator's default class)",
    )


class SetQuotasRequest(RequestBody):
    quotas: dict[str, StrictInt] = Field(description="GPU model -> GPUs the project may use at once")


class SetPriceBookRequest(RequestBody):
    currency: str | None = Field(default=None, description="defaults to the tenant's currency")
    gpu_hour: dict[str, Decimal] = Field(default_factory=dict, description="GPU model -> price per GPU-hour")
    per_1k_tokens: Decimal = Decimal(0)
    per_request: Decimal = Decimal(0)
    per_kwh: Decimal = Decimal(0)
    plans: list[PricePlanSpec] = Field(
        default_factory=list,
        description="per meter (gpu_hours: per GPU model): a tiered (graduated or volume, with flat fees), "
        "package or per-unit plan instead of the price above",
    )
    commitments: list[CommitmentSpec] = Field(
        default_factory=list, description="committed-use discounts: a monthly spend or quantity"
    )
    effective_from: AwareDatetime | None = Field(
        default=None, description="when this version takes effect, with its UTC offset; default now"
    )


class GrantCreditRequest(RequestBody):
    amount: Decimal = Field(description="prepaid credit in the tenant's currency, more than 0")
    note: str = Field(default="", max_length=500)


class VoidInvoiceRequest(RequestBody):
    reason: str = Field(min_length=1, max_length=500, description="why the finalized invoice is withdrawn")


class SubmitJobRequest(RequestBody):
    project_id: Identifier
    spec: JobSubmission


class FinalizeInvoiceRequest(RequestBody):
    tenant_id: Identifier
    period: str = Field(description="billing period, YYYY-MM")


class TenantResponse(BaseModel):
    tenant_id: str
    name: str
    currency: str
    created_at: datetime


class ListPage(BaseModel):
    """Every list is paged alike: page_size and page_token in the query (services/gateway/domain/pages.py)."""

    next_page_token: str | None = Field(
        default=None, description="pass as page_token for the next page; null on the last"
    )


class TenantList(ListPage):
    items: list[TenantResponse]


class TenantCreatedResponse(BaseModel):
    tenant_id: str
    name: str
    currency: str
    created_at: datetime
    admin_key: str = Field(description="the tenant's first admin API key; shown only this once")


class ProjectResponse(BaseModel):
    project_id: str
    tenant_id: str
    name: str
    created_at: datetime
    max_priority_class: str | None = Field(description="None: the operator's default class")

    @classmethod
    def of(cls, project: Project) -> ProjectResponse:
        return cls(
            project_id=project.project_id,
            tenant_id=project.tenant_id,
            name=project.name,
            created_at=project.created_at,
            max_priority_class=project.max_priority_class,
        )


class ProjectList(ListPage):
    items: list[ProjectResponse]


class QuotasResponse(BaseModel):
    project_id: str
    tenant_id: str
    quotas: dict[str, int]


class PriceBookResponse(BaseModel):
    tenant_id: str
    currency: str
    gpu_hour: dict[str, Decimal]
    per_1k_tokens: Decimal
    per_request: Decimal
    per_kwh: Decimal
    plans: list[PricePlanSpec] = []
    commitments: list[CommitmentSpec] = []
    effective_from: datetime

    @classmethod
    def of(cls, version: PriceBookSet) -> PriceBookResponse:
        return cls(
            tenant_id=version.tenant_id,
            currency=version.currency,
            gpu_hour=version.gpu_hour,
            per_1k_tokens=version.per_1k_tokens,
            per_request=version.per_request,
            per_kwh=version.per_kwh,
            plans=version.plans,
            commitments=version.commitments,
            effective_from=version.effective_from or version.occurred_at,
        )


class CreditGrantedResponse(BaseModel):
    tenant_id: str
    grant_id: str
    amount: Decimal
    currency: str
    note: str


class VoidRequestedResponse(BaseModel):
    tenant_id: str
    invoice_id: str
    reason: str
    request_id: str = Field(description="the id of the InvoiceVoidRequested event")


class JobResponse(BaseModel):
    job_id: str
    tenant_id: str
    project_id: str
    spec: JobSpec
    state: JobState
    reason: str
    created_at: datetime
    updated_at: datetime
    cancel_requested_at: datetime | None

    @classmethod
    def of(cls, job: Job) -> JobResponse:
        return cls(
            job_id=job.job_id,
            tenant_id=job.tenant_id,
            project_id=job.project_id,
            spec=job.spec,
            state=job.state,
            reason=job.reason,
            created_at=job.created_at,
            updated_at=job.updated_at,
            cancel_requested_at=job.cancel_requested_at,
        )


class JobPageResponse(ListPage):
    items: list[JobResponse]


class InvoiceResponse(BaseModel):
    invoice_id: str
    tenant_id: str
    period: str
    status: str
    currency: str
    lines: list[InvoiceLine]
    total: Decimal = Field(description="what the tenant pays: subtotal - credit_applied")
    subtotal: Decimal
    credit_applied: Decimal
    revision: int
    replaces: str | None = Field(description="the voided invoice this revision replaces")
    void_reason: str | None
    final: bool
    updated_at: datetime

    @classmethod
    def of(cls, invoice: Invoice) -> InvoiceResponse:
        return cls(
            invoice_id=invoice.invoice_id,
            tenant_id=invoice.tenant_id,
            period=invoice.period,
            status=invoice.status,
            currency=invoice.currency,
            lines=list(invoice.lines),
            total=invoice.total,
            subtotal=invoice.total + invoice.credit_applied if invoice.subtotal is None else invoice.subtotal,
            credit_applied=invoice.credit_applied,
            revision=invoice.revision,
            replaces=invoice.replaces,
            void_reason=invoice.void_reason,
            final=invoice.final,
            updated_at=invoice.snapshot_at,
        )


class InvoiceList(ListPage):
    items: list[InvoiceResponse]


class FinalizeRequestedResponse(BaseModel):
    tenant_id: str
    period: str
    request_id: str = Field(description="the id of the InvoiceFinalizeRequested event")


class NodeResponse(BaseModel):
    node_id: str
    state: str
    gpu_model: str
    gpu_count: int
    changed_at: datetime

    @classmethod
    def of(cls, node: Node) -> NodeResponse:
        return cls(
            node_id=node.node_id,
            state=node.state,
            gpu_model=node.gpu_model,
            gpu_count=node.gpu_count,
            changed_at=node.changed_at,
        )


class NodeList(ListPage):
    items: list[NodeResponse]


class ProblemDetails(BaseModel):
    """RFC 9457 problem details, for the OpenAPI document (responses are application/problem+json)."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[dict[str, str]] | None = None
