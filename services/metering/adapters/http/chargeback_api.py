"""Metering's internal chargeback / showback API (the gateway calls it for a tenant it authenticated, or
for the operator):

GET /v1/chargeback?period=YYYY-MM[&idle=shared|separate_line][&tenant_id=T]
  200 with tenant_id: that tenant's own lines (per project and GPU model: GPU-seconds, usage cost, its
      share of the idle cost in shared mode, total), its GPU-seconds on models without a rate, its total.
  200 without tenant_id: the fleet's view for the operator: per GPU model the rate, capacity, used and
      idle GPU-seconds, idle cost and idle line; every tenant's lines; unrated models; the total.
  Amounts are decimal strings in the fleet's currency (AIFACTORY_CHARGEBACK_CURRENCY), at the fleet's
  rates (AIFACTORY_CHARGEBACK_RATES); idle defaults to AIFACTORY_CHARGEBACK_IDLE.
  400 invalid_period / 422 invalid_request (an unknown idle mode): problem+json naming the parameter.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from services.metering.adapters.chargeback_reader import PostgresFleetUsage
from services.metering.adapters.http.api import checked_period
from services.metering.app.chargeback import chargeback
from services.metering.domain.chargeback import IdleCostMode
from services.metering.domain.chargeback_report import (
    ChargebackLine,
    FleetChargeback,
    FleetRates,
    ModelSummary,
    UnratedUsage,
)
from shared.db.pool import Database

Scope = Literal["fleet", "tenant"]


class ChargebackOut(BaseModel):
    """The report's own dataclasses, as JSON; what only one view has is None there, and left out."""

    scope: Scope
    period: str
    currency: str
    idle: str
    tenant_id: str | None = None  # the tenant's view
    models: list[ModelSummary] | None = None  # the fleet's view
    lines: list[ChargebackLine]
    unrated: list[UnratedUsage]
    total: Decimal


def chargeback_router(db: Database, rates: FleetRates, default_mode: IdleCostMode) -> APIRouter:
    router = APIRouter(prefix="/v1")
    usage = PostgresFleetUsage(db)

    @router.get("/chargeback", response_model_exclude_none=True)
    async def read_chargeback(
        period: Annotated[str, Query(description="the calendar month, YYYY-MM (UTC)")],
        idle: Annotated[IdleCostMode | None, Query(description="shared or separate_line")] = None,
        tenant_id: Annotated[str | None, Query(min_length=1, description="that tenant's part only")] = None,
    ) -> ChargebackOut:
        mode = idle or default_mode
        report = await chargeback(usage, rates, checked_period(period), mode, tenant_id)
        scope: Scope
        if isinstance(report, FleetChargeback):
            scope, tenant, models = "fleet", None, list(report.models)
        else:
            scope, tenant, models = "tenant", report.tenant_id, None
        return ChargebackOut(
            scope=scope,
            period=report.period,
            currency=report.currency,
            idle=mode.value,
            tenant_id=tenant,
            models=models,
            lines=list(report.lines),
            unrated=list(report.unrated),
            total=report.total,
        )

    return router
