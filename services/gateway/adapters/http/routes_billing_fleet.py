"""Invoices (read model from metering, finalization requests) and the fleet read model."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from services.gateway.adapters.http.dependencies import CurrentPrincipal, UseCases
from services.gateway.adapters.http.schemas import (
    FinalizeInvoiceRequest,
    FinalizeRequestedResponse,
    InvoiceList,
    InvoiceResponse,
    NodeList,
    NodeResponse,
)
from services.gateway.app.billing_and_fleet import FinalizeInvoice

router = APIRouter(prefix="/v1")


@router.get("/invoices", response_model=InvoiceList, tags=["invoices"])
async def list_invoices(
    principal: CurrentPrincipal,
    use_cases: UseCases,
    tenant_id: Annotated[str | None, Query(description="operator only: one tenant's invoices")] = None,
    period: Annotated[str | None, Query(description="YYYY-MM")] = None,
) -> InvoiceList:
    invoices = await use_cases.billing.list_invoices(principal, tenant_id, period)
    return InvoiceList(items=[InvoiceResponse.of(i) for i in invoices])


@router.get("/invoices/{invoice_id}", response_model=InvoiceResponse, tags=["invoices"])
async def get_invoice(invoice_id: str, principal: CurrentPrincipal, use_cases: UseCases) -> InvoiceResponse:
    return InvoiceResponse.of(await use_cases.billing.get_invoice(principal, invoice_id))


@router.post(
    "/invoices/finalize",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=FinalizeRequestedResponse,
    tags=["invoices"],
)
async def finalize_invoice(
    body: FinalizeInvoiceRequest, principal: CurrentPrincipal, use_cases: UseCases
) -> FinalizeRequestedResponse:
    """Operator only: asks metering to finalize the tenant's invoice of the period."""
    event = await use_cases.billing.request_finalize(principal, FinalizeInvoice(body.tenant_id, body.period))
    return FinalizeRequestedResponse(
        tenant_id=event.tenant_id, period=event.period, request_id=str(event.event_id)
    )


@router.get("/nodes", response_model=NodeList, tags=["fleet"])
async def list_nodes(principal: CurrentPrincipal, use_cases: UseCases) -> NodeList:
    """Operator only: every node the scheduler reported, with its state and GPUs."""
    return NodeList(items=[NodeResponse.of(n) for n in await use_cases.fleet.list_nodes(principal)])
