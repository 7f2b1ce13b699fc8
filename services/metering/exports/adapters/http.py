"""Metering's internal export API (the gateway calls it for a tenant it authenticated, asserted in its
signed call: platform/http.py TenantId), built from the live invoices:

GET /v1/invoices/{invoice_id}/export?format=json|csv
  200: the invoice as JSON (application/json) or CSV, one row per line (text/csv); invoice_export.py.
  404 invoice_not_found: no invoice by that id, or it is another tenant's.
GET /v1/focus?period=YYYY-MM
  200: FinOps FOCUS 1.2 CSV (text/csv), one row per line of the tenant's invoice of the period; just
  the header when there is none; focus_export.py.
  400 invalid_period: problem+json.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from services.metering.exports.domain.focus_export import FocusContext, focus_csv
from services.metering.exports.domain.invoice_export import invoice_csv, invoice_json
from services.metering.invoicing.adapters.invoice_reader import PgInvoiceReader
from services.metering.platform.http import TenantId, checked_period
from shared.contracts import metering_api as api
from shared.db.pool import Database
from shared.http.problems import ProblemError

CSV = "text/csv; charset=utf-8"


def exports_router(db: Database) -> APIRouter:
    router = APIRouter()
    reader = PgInvoiceReader(db)

    @router.get(api.INVOICE_EXPORT_PATH)
    async def invoice_export(
        invoice_id: str,
        tenant_id: TenantId,
        export_format: Annotated[api.ExportFormat, Query(alias="format")] = "json",
    ) -> Response:
        invoice = await reader.invoice(tenant_id, invoice_id)
        if invoice is None:
            raise ProblemError(404, "invoice_not_found", f"no invoice {invoice_id!r}")
        if export_format == "csv":
            return Response(invoice_csv(invoice), media_type=CSV)
        return Response(invoice_json(invoice), media_type="application/json")

    @router.get(api.FOCUS_PATH)
    async def focus(tenant_id: TenantId, period: str) -> Response:
        invoices = await reader.invoices(tenant_id, checked_period(period))
        name = await reader.tenant_name(tenant_id) or tenant_id
        return Response(focus_csv(invoices, {tenant_id: FocusContext(name)}), media_type=CSV)

    return router
