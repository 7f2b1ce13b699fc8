"""Usage queries and downloads (an invoice as JSON or CSV, the FinOps FOCUS 1.2 CSV), read from metering
for the caller's tenant."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from services.gateway.adapters.http.dependencies import CurrentPrincipal, UseCases
from services.gateway.app.usage_and_exports import Download, ExportFormat, UsageQuery
from shared.contracts.metering_api import UsageReport

router = APIRouter(prefix="/v1")

OperatorTenant = Annotated[str | None, Query(description="operator only: the tenant")]


def _download(download: Download) -> Response:
    disposition = f'attachment; filename="{download.filename}"'
    return Response(
        download.content, media_type=download.media_type, headers={"Content-Disposition": disposition}
    )


@router.get("/usage", response_model=UsageReport, tags=["usage"])
async def usage(
    principal: CurrentPrincipal,
    use_cases: UseCases,
    start: Annotated[date, Query(alias="from", description="the first day, YYYY-MM-DD (UTC)")],
    end: Annotated[date, Query(alias="to", description="the day after the last, YYYY-MM-DD (UTC)")],
    tenant_id: OperatorTenant = None,
    grain: Annotated[str, Query(description="day, hour or minute")] = "day",
    group_by: Annotated[str, Query(description="comma-separated: project, gpu_model")] = "project,gpu_model",
    meter: Annotated[list[str] | None, Query(description="repeat for several; none: every meter")] = None,
    project_id: Annotated[str | None, Query(description="only this project's usage")] = None,
) -> UsageReport:
    """The tenant's metered usage per window of `grain`, summed per meter and the `group_by` dimensions
    (exact decimal strings)."""
    query = UsageQuery(start, end, grain, group_by, tuple(meter or ()), project_id)
    return await use_cases.usage_and_exports.usage(principal, tenant_id, query)


_CSV_OR_JSON: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {}, "text/csv": {}}, "description": "the download"}
}
_CSV: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {}}, "description": "the download"}}


@router.get(
    "/invoices/{invoice_id}/export", response_class=Response, responses=_CSV_OR_JSON, tags=["invoices"]
)
async def export_invoice(
    invoice_id: str,
    principal: CurrentPrincipal,
    use_cases: UseCases,
    export_format: Annotated[ExportFormat, Query(alias="format")] = "json",
) -> Response:
    """The invoice as a download: JSON, or CSV with one row per line (the invoice's fields on each)."""
    return _download(await use_cases.usage_and_exports.invoice_export(principal, invoice_id, export_format))


@router.get("/focus", response_class=Response, responses=_CSV, tags=["invoices"])
async def focus_export(
    principal: CurrentPrincipal,
    use_cases: UseCases,
    period: Annotated[str, Query(description="the billing period, YYYY-MM")],
    tenant_id: OperatorTenant = None,
) -> Response:
    """FinOps FOCUS 1.2 cost and usage CSV of the tenant's invoice of the period: one row per line."""
    return _download(await use_cases.usage_and_exports.focus(principal, tenant_id, period))
