"""Chargeback / showback per project, read from metering for the caller's tenant (or, for the operator,
the whole fleet)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from services.gateway.adapters.http.dependencies import CurrentPrincipal, UseCases

router = APIRouter(prefix="/v1")


class ChargebackLine(BaseModel):
    tenant_id: str
    project_id: str
    gpu_model: str
    used_gpu_seconds: Decimal = Field(description="the project's allocated GPU-seconds on this model")
    usage_cost: Decimal = Field(description="used GPU-seconds at the fleet rate, rounded once")
    idle_share: Decimal = Field(description="its share of the model's idle cost (shared mode), else 0")
    total: Decimal


class ModelSummary(BaseModel):
    gpu_model: str
    gpu_hour_rate: Decimal
    capacity_gpu_seconds: Decimal = Field(description="used + idle GPU-seconds metered in the period")
    used_gpu_seconds: Decimal
    idle_gpu_seconds: Decimal
    idle_cost: Decimal
    idle_line: Decimal = Field(description="the idle cost on its own line (all of it unless shared out)")


class UnratedUsage(BaseModel):
    gpu_model: str = Field(description="a GPU model the operator set no fleet rate for: not priced")
    used_gpu_seconds: Decimal
    idle_gpu_seconds: Decimal | None = Field(default=None, description="the fleet's view only")


class ChargebackResponse(BaseModel):
    scope: Literal["fleet", "tenant"]
    period: str
    currency: str
    idle: str = Field(description="shared or separate_line")
    tenant_id: str | None = Field(default=None, description="the tenant's view only")
    models: list[ModelSummary] | None = Field(default=None, description="the fleet's view only")
    lines: list[ChargebackLine]
    unrated: list[UnratedUsage]
    total: Decimal


@router.get(
    "/chargeback", response_model=ChargebackResponse, response_model_exclude_none=True, tags=["usage"]
)
async def chargeback(
    principal: CurrentPrincipal,
    use_cases: UseCases,
    period: Annotated[str, Query(description="the calendar month, YYYY-MM (UTC)")],
    idle: Annotated[
        str | None,
        Query(description="shared (by usage) or separate_line; default: the operator's setting"),
    ] = None,
    tenant_id: Annotated[str | None, Query(description="operator only: that tenant; none: the fleet")] = None,
) -> Any:
    """What each project's GPU use cost at the fleet's rates per GPU-hour, with the idle GPUs' cost shared
    among the projects by usage or shown as its own line; never negative. A tenant sees its own projects
    only; the operator sees one tenant, or the whole fleet when naming none."""
    return await use_cases.chargeback.read(principal, tenant_id, period, idle)
