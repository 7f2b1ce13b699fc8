"""Metering's internal chargeback / showback API (the gateway calls it for a tenant it authenticated, or
for the operator), the view chosen by the scope of the gateway's signed call (platform/http.py
CallerScope), never by a query parameter:

GET /v1/chargeback?period=YYYY-MM[&idle=shared|separate_line]
  200 in a tenant's scope: that tenant's own lines (per project and GPU model: GPU-seconds, usage cost, its
      share of the idle cost in shared mode, total), its GPU-seconds on models without a rate, its total.
  200 in the operator's fleet scope: the fleet's view: per GPU model the rate, capacity, used and
      idle GPU-seconds, idle cost and idle line; every tenant's lines; unrated models; the total.
  Amounts are decimal strings in the fleet's currency (AIFACTORY_CHARGEBACK_CURRENCY), at the fleet's
  rates (AIFACTORY_CHARGEBACK_RATES); idle defaults to AIFACTORY_CHARGEBACK_IDLE.
  400 invalid_period / 422 invalid_request (an unknown idle mode): problem+json naming the parameter.
The answer is shared/contracts/metering_api.py ChargebackReport (the gateway's client reads the same).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Query

from services.metering.chargeback.adapters.fleet_usage import PostgresFleetUsage
from services.metering.chargeback.app.use_cases import chargeback
from services.metering.chargeback.domain.report import FleetChargeback, FleetRates
from services.metering.chargeback.domain.showback import IdleCostMode
from services.metering.platform.http import CallerScope, checked_period
from shared.contracts import metering_api as api
from shared.db.pool import Database


def chargeback_router(db: Database, rates: FleetRates, default_mode: IdleCostMode) -> APIRouter:
    router = APIRouter()
    usage = PostgresFleetUsage(db)

    @router.get(api.CHARGEBACK_PATH, response_model_exclude_none=True)
    async def read_chargeback(
        scope: CallerScope,
        period: Annotated[str, Query(description="the calendar month, YYYY-MM (UTC)")],
        idle: Annotated[IdleCostMode | None, Query(description="shared or separate_line")] = None,
    ) -> api.ChargebackReport:
        mode = idle or default_mode
        # The fleet's view (tenant_id None) only in the operator's fleet scope.
        report = await chargeback(usage, rates, checked_period(period), mode, scope.tenant_id)
        view: dict[str, Any]
        if isinstance(report, FleetChargeback):
            view = {
                "scope": "fleet",
                "models": [api.ModelSummary(**asdict(model)) for model in report.models],
            }
        else:
            view = {"scope": "tenant", "tenant_id": report.tenant_id}
        return api.ChargebackReport(
            period=report.period,
            currency=report.currency,
            idle=mode.value,
            lines=[api.ChargebackLine(**asdict(line)) for line in report.lines],
            unrated=[api.UnratedUsage(**asdict(unrated)) for unrated in report.unrated],
            total=report.total,
            **view,
        )

    return router
