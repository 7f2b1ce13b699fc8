"""Usage queries and invoice / FOCUS downloads, read from metering's internal API for the caller's tenant.

Who may: any key of a tenant reads its own tenant's usage and exports, never another's (another
tenant's invoice is reported as missing); the operator names the tenant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Protocol

from pricing.periods import period_problems
from services.gateway.app.billing_and_fleet import Billing
from services.gateway.app.billing_controls import MeteringUnavailable
from services.gateway.domain.auth import Principal, scope_tenant
from services.gateway.domain.errors import InvalidInput, refuse
from shared.contracts.metering_api import ExportFormat, UsageReport


@dataclass(frozen=True)
class UsageQuery:
    start: date  # the first day (UTC)
    end: date  # the day after the last
    grain: str = "day"
    group_by: str = "project,gpu_model"
    meters: tuple[str, ...] = ()  # none: every meter
    project_id: str | None = None


@dataclass(frozen=True)
class Download:
    content: bytes
    media_type: str
    filename: str


class MeteringExports(Protocol):
    """Metering's internal usage and export API. Raises MeteringUnavailable; InvalidInput for a query
    metering refuses; NotFound for an invoice it does not hold for the tenant."""

    async def usage(self, tenant_id: str, query: UsageQuery) -> UsageReport: ...
    async def invoice_export(self, tenant_id: str, invoice_id: str, export_format: ExportFormat) -> bytes: ...
    async def focus(self, tenant_id: str, period: str) -> bytes: ...


class UsageAndExports:
    def __init__(self, billing: Billing, metering: MeteringExports | None) -> None:
        self._billing = billing
        self._metering = metering

    async def usage(self, principal: Principal, tenant_id: str | None, query: UsageQuery) -> UsageReport:
        scoped = _tenant(principal, tenant_id)
        if query.end <= query.start:
            raise InvalidInput.one("to", "must be a later day than 'from'", "query")
        return await self._api().usage(scoped, query)

    async def invoice_export(
        self, principal: Principal, invoice_id: str, export_format: ExportFormat
    ) -> Download:
        # The read model knows whose invoice it is (NotFound for another tenant's).
        invoice = await self._billing.get_invoice(principal, invoice_id)
        content = await self._api().invoice_export(invoice.tenant_id, invoice_id, export_format)
        media_type = "text/csv" if export_format == "csv" else "application/json"
        return Download(content, media_type, f"{invoice_id}.{export_format}")

    async def focus(self, principal: Principal, tenant_id: str | None, period: str) -> Download:
        scoped = _tenant(principal, tenant_id)
        refuse(period_problems(period), "query")
        content = await self._api().focus(scoped, period)
        return Download(content, "text/csv", f"focus_{scoped}_{period}.csv")

    def _api(self) -> MeteringExports:
        if self._metering is None:
            raise MeteringUnavailable("this gateway has no metering API configured")
        return self._metering


def _tenant(principal: Principal, tenant_id: str | None) -> str:
    scoped = scope_tenant(principal, tenant_id)
    if scoped is None:
        raise InvalidInput.one("tenant_id", "the operator must name the tenant", "query")
    return scoped
