"""Chargeback / showback of one period: the fleet's view for the operator, or one tenant's own part."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Protocol

from pricing.periods import validate_period
from services.metering.chargeback.domain.report import (
    FleetChargeback,
    FleetRates,
    TenantChargeback,
    UsedGpuSeconds,
    fleet_chargeback,
    tenant_view,
)
from services.metering.chargeback.domain.showback import IdleCostMode


class FleetUsage(Protocol):
    async def gpu_seconds(self, period: str) -> tuple[Sequence[UsedGpuSeconds], dict[str, Decimal]]:
        """The period's GPU-seconds: used per tenant, project and GPU model; idle per GPU model."""
        ...


async def chargeback(
    usage: FleetUsage, rates: FleetRates, period: str, mode: IdleCostMode, tenant_id: str | None = None
) -> FleetChargeback | TenantChargeback:
    """The whole fleet's chargeback (tenant_id None), or that tenant's part of it: its idle shares come
    from every tenant's usage, so the fleet's is computed either way."""
    period = validate_period(period)
    used, idle = await usage.gpu_seconds(period)
    fleet = fleet_chargeback(period, used, idle, rates, mode)
    return fleet if tenant_id is None else tenant_view(fleet, tenant_id, used)
