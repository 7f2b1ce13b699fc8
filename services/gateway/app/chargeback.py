"""Chargeback / showback of a period, read from metering's internal API.

Who may: any key of a tenant reads its own tenant's part (its projects' costs and, when idle cost is
shared, their shares of it), never another tenant's; the operator reads one tenant's part, or the whole
fleet's when it names no tenant (every tenant's lines, the idle GPUs' cost per GPU model).
"""

from __future__ import annotations

from typing import Protocol, get_args

from pricing.periods import period_problems
from services.gateway.app.billing_controls import MeteringUnavailable
from services.gateway.domain.auth import Principal, scope_tenant
from services.gateway.domain.errors import FieldError, InvalidInput, field_errors
from shared.contracts.metering_api import ChargebackReport, IdleMode

# How the idle GPUs' cost is shown: shared among the projects by usage, or as its own line.
IDLE_MODES: tuple[str, ...] = get_args(IdleMode)


class MeteringChargeback(Protocol):
    """Raises MeteringUnavailable. `tenant_id` None: the fleet's view; `idle` None: metering's default."""

    async def chargeback(self, tenant_id: str | None, period: str, idle: str | None) -> ChargebackReport: ...


class Chargeback:
    def __init__(self, metering: MeteringChargeback | None) -> None:
        self._metering = metering

    async def read(
        self, principal: Principal, tenant_id: str | None, period: str, idle: str | None
    ) -> ChargebackReport:
        scoped = scope_tenant(principal, tenant_id)
        errors = field_errors(period_problems(period), "query")
        if idle is not None and idle not in IDLE_MODES:
            errors.append(FieldError("idle", f"{idle!r} is not one of {', '.join(IDLE_MODES)}", "query"))
        if errors:
            raise InvalidInput(errors)
        if self._metering is None:
            raise MeteringUnavailable("this gateway has no metering API configured")
        return await self._metering.chargeback(scoped, period, idle)
