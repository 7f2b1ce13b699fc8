"""Chargeback / showback per project, read from metering for the caller's tenant (or, for the operator,
the whole fleet)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from services.gateway.adapters.http.dependencies import CurrentPrincipal, UseCases
from shared.contracts.metering_api import ChargebackReport

router = APIRouter(prefix="/v1")


@router.get("/chargeback", response_model=ChargebackReport, response_model_exclude_none=True, tags=["usage"])
async def chargeback(
    principal: CurrentPrincipal,
    use_cases: UseCases,
    period: Annotated[str, Query(description="the calendar month, YYYY-MM (UTC)")],
    idle: Annotated[
        str | None,
        Query(description="shared (by usage) or separate_line; default: the operator's setting"),
    ] = None,
    tenant_id: Annotated[str | None, Query(description="operator only: that tenant; none: the fleet")] = None,
) -> ChargebackReport:
    """What each project's GPU use cost at the fleet's rates per GPU-hour, with the idle GPUs' cost shared
    among the projects by usage or shown as its own line; never negative. A tenant sees its own projects
    only; the operator sees one tenant, or the whole fleet when naming none."""
    return await use_cases.chargeback.read(principal, tenant_id, period, idle)
