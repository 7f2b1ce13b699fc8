"""Invoices (read model from metering; finalization and void requests, prepaid credit) and the fleet read
model."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from services.gateway.adapters.http.dependencies import CurrentPrincipal, Paging, UseCases
from services.gateway.adapters.http.links import TENANT, linked, to
from services.gateway.adapters.http.schemas import (
    CreditGrantedResponse,
    FinalizeInvoiceRequest,
    FinalizeRequestedResponse,
    GrantCreditRequest,
    InvoiceList,
    InvoiceResponse,
    NodeList,
    NodeResponse,
    VoidInvoiceRequest,
    VoidRequestedResponse,
)
from services.gateway.app.billing_and_fleet import FinalizeInvoice, GrantCredit, VoidInvoice

router = APIRouter(prefix="/v1")


@router.get(
    "/invoices",
    response_model=InvoiceList,
    tags=["invoices"],
)
async def list_invoices(
    principal: CurrentPrincipal,
    use_cases: UseCases,
    page: Paging,
    tenant_id: Annotated[str | None, Query(description="operator only: one tenant's invoices")] = None,
    period: Annotated[str | None, Query(description="YYYY-MM")] = None,
) -> InvoiceList:
    """Newest period first, in pages."""
    invoices = await use_cases.billing.list_invoices(principal, tenant_id, period, page)
    return InvoiceList(
        items=[InvoiceResponse.of(i) for i in invoices.items], next_page_token=invoices.next_page_token
    )


@router.get("/invoices/{invoice_id}", response_model=InvoiceResponse, tags=["invoices"])
async def get_invoice(invoice_id: str, principal: CurrentPrincipal, use_cases: UseCases) -> InvoiceResponse:
    return InvoiceResponse.of(await use_cases.billing.get_invoice(principal, invoice_id))


@router.post(
    "/invoices/finalize",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=FinalizeRequestedResponse,
    tags=["invoices"],
    responses=linked(
        202,
        GetInvoices=to(
            "list_invoices_v1_invoices_get", query_tenant_id=TENANT, query_period="$response.body#/period"
        ),
    ),
)
async def finalize_invoice(
    body: FinalizeInvoiceRequest, principal: CurrentPrincipal, use_cases: UseCases
) -> FinalizeRequestedResponse:
    """Operator only: asks metering to finalize the tenant's invoice of the period."""
    event = await use_cases.billing.request_finalize(principal, FinalizeInvoice(body.tenant_id, body.period))
    return FinalizeRequestedResponse(
        tenant_id=event.tenant_id, period=event.period, request_id=str(event.event_id)
    )


@router.post(
    "/invoices/{invoice_id}/void",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=VoidRequestedResponse,
    tags=["invoices"],
)
async def void_invoice(
    invoice_id: str, body: VoidInvoiceRequest, principal: CurrentPrincipal, use_cases: UseCases
) -> VoidRequestedResponse:
    """Operator only: withdraw a finalized invoice (kept, status void); metering opens its period's
    replacement draft (revision + 1, `replaces` this one)."""
    event = await use_cases.billing.request_void(principal, VoidInvoice(invoice_id, body.reason))
    return VoidRequestedResponse(
        tenant_id=event.tenant_id,
        invoice_id=event.invoice_id,
        reason=event.reason,
        request_id=str(event.event_id),
    )


@router.post(
    "/tenants/{tenant_id}/credits",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=CreditGrantedResponse,
    tags=["invoices"],
)
async def grant_credit(
    tenant_id: str, body: GrantCreditRequest, principal: CurrentPrincipal, use_cases: UseCases
) -> CreditGrantedResponse:
    """Operator only: prepaid credit in the tenant's currency; invoices draw it down when finalized."""
    event = await use_cases.billing.grant_credit(principal, GrantCredit(tenant_id, body.amount, body.note))
    return CreditGrantedResponse(
        tenant_id=event.tenant_id,
        grant_id=event.grant_id,
        amount=event.amount,
        currency=event.currency,
        note=event.note,
    )


@router.get("/nodes", response_model=NodeList, tags=["fleet"])
async def list_nodes(principal: CurrentPrincipal, use_cases: UseCases, page: Paging) -> NodeList:
    """Operator only: every node the scheduler reported, with its state and GPUs, by node id, in pages."""
    nodes = await use_cases.fleet.list_nodes(principal, page)
    return NodeList(items=[NodeResponse.of(n) for n in nodes.items], next_page_token=nodes.next_page_token)
