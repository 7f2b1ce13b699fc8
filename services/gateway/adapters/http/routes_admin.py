"""Tenants, projects, quotas and price books (API keys: routes_keys.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from services.gateway.adapters.http.dependencies import CurrentPrincipal, Paging, UseCases
from services.gateway.adapters.http.links import PROJECT, TENANT, linked, to
from services.gateway.adapters.http.schemas import (
    CreateProjectRequest,
    CreateTenantRequest,
    PriceBookResponse,
    ProjectList,
    ProjectResponse,
    QuotasResponse,
    SetPriceBookRequest,
    SetQuotasRequest,
    TenantCreatedResponse,
    TenantList,
    TenantResponse,
)
from services.gateway.app.administration import (
    CreateProject,
    CreateTenant,
    SetPriceBook,
    SetQuotas,
)

router = APIRouter(prefix="/v1", tags=["administration"])


@router.post(
    "/tenants",
    status_code=status.HTTP_201_CREATED,
    response_model=TenantCreatedResponse,
    responses=linked(
        201,
        GetProjects=to("list_projects_v1_projects_get", query_tenant_id=TENANT),
        CreateKey=to("create_key_v1_tenants__tenant_id__keys_post", path_tenant_id=TENANT),
        GetKeys=to("list_keys_v1_keys_get", query_tenant_id=TENANT),
        SetPriceBook=to("set_price_book_v1_tenants__tenant_id__price_book_put", path_tenant_id=TENANT),
        GetPriceBook=to("get_price_book_v1_tenants__tenant_id__price_book_get", path_tenant_id=TENANT),
        GrantCredit=to("grant_credit_v1_tenants__tenant_id__credits_post", path_tenant_id=TENANT),
        GetInvoices=to("list_invoices_v1_invoices_get", query_tenant_id=TENANT),
        SetBudget=to("set_tenant_budget_v1_tenants__tenant_id__budget_put", path_tenant_id=TENANT),
        GetBudget=to("get_tenant_budget_v1_tenants__tenant_id__budget_get", path_tenant_id=TENANT),
        RegisterWebhook=to("register_webhook_v1_tenants__tenant_id__webhooks_post", path_tenant_id=TENANT),
        GetWebhooks=to("list_webhooks_v1_tenants__tenant_id__webhooks_get", path_tenant_id=TENANT),
    ),
)
async def create_tenant(
    body: CreateTenantRequest, principal: CurrentPrincipal, use_cases: UseCases
) -> TenantCreatedResponse:
    """Operator only: a tenant and its first admin key (returned once)."""
    created = await use_cases.administration.create_tenant(principal, CreateTenant(body.name, body.currency))
    tenant = created.tenant
    return TenantCreatedResponse(
        tenant_id=tenant.tenant_id,
        name=tenant.name,
        currency=tenant.currency,
        created_at=tenant.created_at,
        admin_key=created.admin_key,
    )


@router.get("/tenants", response_model=TenantList)
async def list_tenants(principal: CurrentPrincipal, use_cases: UseCases, page: Paging) -> TenantList:
    """The operator: every tenant; a tenant key: its own. Oldest first, in pages."""
    tenants = await use_cases.administration.list_tenants(principal, page)
    return TenantList(
        items=[TenantResponse(**vars(t)) for t in tenants.items], next_page_token=tenants.next_page_token
    )


@router.put("/tenants/{tenant_id}/price-book", response_model=PriceBookResponse)
async def set_price_book(
    tenant_id: str, body: SetPriceBookRequest, principal: CurrentPrincipal, use_cases: UseCases
) -> PriceBookResponse:
    """Operator only: a new version of the tenant's prices, from now (or effective_from) on: per-unit
    prices (decimal strings or numbers, 0 or more), plans per meter and committed-use discounts."""
    event = await use_cases.administration.set_price_book(
        principal,
        SetPriceBook(
            tenant_id=tenant_id,
            currency=body.currency,
            gpu_hour=body.gpu_hour,
            per_1k_tokens=body.per_1k_tokens,
            per_request=body.per_request,
            per_kwh=body.per_kwh,
            plans=tuple(body.plans),
            commitments=tuple(body.commitments),
            effective_from=body.effective_from,
        ),
    )
    return PriceBookResponse.of(event)


@router.get("/tenants/{tenant_id}/price-book", response_model=PriceBookResponse)
async def get_price_book(
    tenant_id: str, principal: CurrentPrincipal, use_cases: UseCases
) -> PriceBookResponse:
    """The tenant or the operator: the version in force now (404 when none was set)."""
    return PriceBookResponse.of(await use_cases.administration.price_book(principal, tenant_id))


@router.post(
    "/projects",
    status_code=status.HTTP_201_CREATED,
    response_model=ProjectResponse,
    responses=linked(
        201,
        SetQuotas=to("set_quotas_v1_projects__project_id__quotas_put", path_project_id=PROJECT),
        GetQuotas=to("get_quotas_v1_projects__project_id__quotas_get", path_project_id=PROJECT),
        GetJobs=to("list_jobs_v1_jobs_get", query_project_id=PROJECT),
        SetBudget=to("set_project_budget_v1_projects__project_id__budget_put", path_project_id=PROJECT),
        GetBudget=to("get_project_budget_v1_projects__project_id__budget_get", path_project_id=PROJECT),
    ),
)
async def create_project(
    body: CreateProjectRequest, principal: CurrentPrincipal, use_cases: UseCases
) -> ProjectResponse:
    """A tenant admin, or the operator naming tenant_id."""
    project = await use_cases.administration.create_project(
        principal, CreateProject(body.name, body.tenant_id, body.max_priority_class)
    )
    return ProjectResponse.of(project)


@router.get("/projects", response_model=ProjectList)
async def list_projects(
    principal: CurrentPrincipal,
    use_cases: UseCases,
    page: Paging,
    tenant_id: Annotated[str | None, Query(description="operator only: one tenant's projects")] = None,
) -> ProjectList:
    """Oldest first, in pages."""
    projects = await use_cases.administration.list_projects(principal, tenant_id, page)
    return ProjectList(
        items=[ProjectResponse.of(p) for p in projects.items], next_page_token=projects.next_page_token
    )


@router.put("/projects/{project_id}/quotas", response_model=QuotasResponse)
async def set_quotas(
    project_id: str, body: SetQuotasRequest, principal: CurrentPrincipal, use_cases: UseCases
) -> QuotasResponse:
    """Operator only: GPUs per model the project may use at once (one QuotaSet event per model). A model
    no node of the fleet has is refused (422), unless its quota is 0 or no node has reported yet."""
    project = await use_cases.administration.set_quotas(principal, SetQuotas(project_id, body.quotas))
    return QuotasResponse(project_id=project.project_id, tenant_id=project.tenant_id, quotas=body.quotas)


@router.get("/projects/{project_id}/quotas", response_model=QuotasResponse)
async def get_quotas(project_id: str, principal: CurrentPrincipal, use_cases: UseCases) -> QuotasResponse:
    """The project's tenant or the operator: every GPU model's quota as last set."""
    project, quotas = await use_cases.administration.quotas(principal, project_id)
    return QuotasResponse(project_id=project.project_id, tenant_id=project.tenant_id, quotas=quotas)
