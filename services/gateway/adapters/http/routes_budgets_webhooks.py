"""Budgets per project and tenant, and webhook endpoints for billing events (docs/billing-events.md).

Setting either is accepted here and applied by metering shortly after; reading shows what metering
holds: each budget with its period's spend and the forecast of the period's end spend, each endpoint
with its delivery log (in pages, like every list).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field

from pricing.budgets import DEFAULT_THRESHOLDS, MAX_THRESHOLDS, OnExhaustion
from services.gateway.adapters.http.dependencies import CurrentPrincipal, Paging, UseCases
from services.gateway.adapters.http.links import TENANT, linked, to
from services.gateway.adapters.http.schemas import ListPage, RequestBody
from services.gateway.app.billing_controls import RegisterWebhook, ScopedBudget, SetBudget
from shared.contracts.metering_api import BudgetStatus, Delivery, TenantBudgets, TenantWebhooks
from shared.events.gateway import BudgetSet

router = APIRouter(prefix="/v1")


class SetBudgetRequest(RequestBody):
    amount: Decimal = Field(description="the budget per billing period (a calendar month, UTC)")
    currency: str | None = Field(default=None, description="defaults to the tenant's currency")
    thresholds_percent: list[Decimal] = Field(
        default_factory=lambda: list(DEFAULT_THRESHOLDS),
        description=f"spend crossing each percentage of the amount emits BudgetThresholdCrossed (at most "
        f"{MAX_THRESHOLDS}, each above 0 and at most 1000)",
    )
    hard_cap: bool = Field(default=False, description="reaching the amount exhausts the budget: no new work")
    on_exhaustion: OnExhaustion = Field(
        default=OnExhaustion.CONTINUE, description="what running work does once the budget is exhausted"
    )


class BudgetSetResponse(BaseModel):
    budget_id: str
    tenant_id: str
    project_id: str | None
    amount: Decimal
    currency: str
    thresholds_percent: list[Decimal]
    hard_cap: bool
    on_exhaustion: OnExhaustion
    set_at: datetime

    @classmethod
    def of(cls, event: BudgetSet) -> BudgetSetResponse:
        return cls(
            budget_id=event.budget_id,
            tenant_id=event.tenant_id,
            project_id=event.project_id,
            amount=event.amount,
            currency=event.currency,
            thresholds_percent=event.thresholds_percent,
            hard_cap=event.hard_cap,
            on_exhaustion=event.on_exhaustion,
            set_at=event.occurred_at,
        )


class BudgetResponse(BudgetStatus):
    tenant_id: str
    period: str

    @classmethod
    def of(cls, scoped: ScopedBudget) -> BudgetResponse:
        return cls(tenant_id=scoped.tenant_id, period=scoped.period, **dict(scoped.status))


class RegisterWebhookRequest(RequestBody):
    url: str = Field(description="an absolute http(s) URL that receives POSTs")
    secret: str | None = Field(default=None, description="signs deliveries; left out, one is generated")
    event_types: list[str] = Field(default_factory=list, description="CloudEvents types; empty: every one")


class WebhookCreatedResponse(BaseModel):
    endpoint_id: str
    tenant_id: str
    url: str
    event_types: list[str]
    secret: str | None = Field(description="the generated secret, shown only this once; null when given")


class RemovalAccepted(BaseModel):
    tenant_id: str
    endpoint_id: str


class DeliveryList(ListPage):
    tenant_id: str
    items: list[Delivery]


def _set_budget(body: SetBudgetRequest, tenant_id: str | None, project_id: str | None) -> SetBudget:
    return SetBudget(
        tenant_id=tenant_id,
        project_id=project_id,
        amount=body.amount,
        currency=body.currency,
        thresholds_percent=tuple(body.thresholds_percent),
        hard_cap=body.hard_cap,
        on_exhaustion=body.on_exhaustion,
    )


@router.put("/projects/{project_id}/budget", response_model=BudgetSetResponse, tags=["budgets"])
async def set_project_budget(
    project_id: str, body: SetBudgetRequest, principal: CurrentPrincipal, use_cases: UseCases
) -> BudgetSetResponse:
    """The tenant's admin or the operator: the project's budget per period, from now on."""
    event = await use_cases.billing_controls.set_budget(principal, _set_budget(body, None, project_id))
    return BudgetSetResponse.of(event)


@router.put("/tenants/{tenant_id}/budget", response_model=BudgetSetResponse, tags=["budgets"])
async def set_tenant_budget(
    tenant_id: str, body: SetBudgetRequest, principal: CurrentPrincipal, use_cases: UseCases
) -> BudgetSetResponse:
    """The tenant's admin or the operator: the budget of the tenant's whole spend per period."""
    event = await use_cases.billing_controls.set_budget(principal, _set_budget(body, tenant_id, None))
    return BudgetSetResponse.of(event)


@router.get("/projects/{project_id}/budget", response_model=BudgetResponse, tags=["budgets"])
async def get_project_budget(
    project_id: str, principal: CurrentPrincipal, use_cases: UseCases
) -> BudgetResponse:
    return BudgetResponse.of(await use_cases.billing_controls.budget(principal, None, project_id))


@router.get("/tenants/{tenant_id}/budget", response_model=BudgetResponse, tags=["budgets"])
async def get_tenant_budget(
    tenant_id: str, principal: CurrentPrincipal, use_cases: UseCases
) -> BudgetResponse:
    return BudgetResponse.of(await use_cases.billing_controls.budget(principal, tenant_id, None))


@router.get("/budgets", response_model=TenantBudgets, tags=["budgets"])
async def list_budgets(
    principal: CurrentPrincipal,
    use_cases: UseCases,
    tenant_id: Annotated[str | None, Query(description="operator only: the tenant")] = None,
    period: Annotated[str | None, Query(description="YYYY-MM; default: the current period")] = None,
) -> TenantBudgets:
    return await use_cases.billing_controls.budgets(principal, tenant_id, period)


@router.post(
    "/tenants/{tenant_id}/webhooks",
    status_code=status.HTTP_201_CREATED,
    response_model=WebhookCreatedResponse,
    tags=["webhooks"],
    responses=linked(
        201,
        GetWebhooks=to("list_webhooks_v1_tenants__tenant_id__webhooks_get", path_tenant_id=TENANT),
        RemoveWebhook=to(
            "remove_webhook_v1_tenants__tenant_id__webhooks__endpoint_id__delete",
            path_tenant_id=TENANT,
            path_endpoint_id="$response.body#/endpoint_id",
        ),
        GetDeliveries=to(
            "list_deliveries_v1_tenants__tenant_id__webhooks_deliveries_get",
            path_tenant_id=TENANT,
            query_endpoint_id="$response.body#/endpoint_id",
        ),
    ),
)
async def register_webhook(
    tenant_id: str, body: RegisterWebhookRequest, principal: CurrentPrincipal, use_cases: UseCases
) -> WebhookCreatedResponse:
    """The tenant's admin or the operator: POST the tenant's billing events to `url`, signed with the
    secret (header Webhook-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">)."""
    command = RegisterWebhook(tenant_id, body.url, body.secret, tuple(body.event_types))
    registered = await use_cases.billing_controls.register_webhook(principal, command)
    event = registered.event
    return WebhookCreatedResponse(
        endpoint_id=event.endpoint_id,
        tenant_id=event.tenant_id,
        url=event.url,
        event_types=event.event_types,
        secret=registered.generated_secret,
    )


@router.get("/tenants/{tenant_id}/webhooks", response_model=TenantWebhooks, tags=["webhooks"])
async def list_webhooks(tenant_id: str, principal: CurrentPrincipal, use_cases: UseCases) -> TenantWebhooks:
    return await use_cases.billing_controls.webhooks(principal, tenant_id)


@router.delete(
    "/tenants/{tenant_id}/webhooks/{endpoint_id}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RemovalAccepted,
    tags=["webhooks"],
)
async def remove_webhook(
    tenant_id: str, endpoint_id: str, principal: CurrentPrincipal, use_cases: UseCases
) -> RemovalAccepted:
    """Stop delivering to the endpoint; its pending deliveries end as failed."""
    event = await use_cases.billing_controls.remove_webhook(principal, tenant_id, endpoint_id)
    return RemovalAccepted(tenant_id=event.tenant_id, endpoint_id=event.endpoint_id)


@router.get("/tenants/{tenant_id}/webhooks/deliveries", response_model=DeliveryList, tags=["webhooks"])
async def list_deliveries(
    tenant_id: str,
    principal: CurrentPrincipal,
    use_cases: UseCases,
    page: Paging,
    endpoint_id: Annotated[str | None, Query(description="one endpoint's deliveries")] = None,
) -> DeliveryList:
    """The delivery log, newest first, in pages: each delivery with every attempt (status code, error,
    next retry). Follow next_page_token until it is null."""
    deliveries = await use_cases.billing_controls.deliveries(principal, tenant_id, endpoint_id, page)
    return DeliveryList(
        tenant_id=tenant_id, items=deliveries.items, next_page_token=deliveries.next_page_token
    )
