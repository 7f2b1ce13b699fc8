"""The port budget tracking works through, bound to one open transaction (the consumer's)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from services.metering.budgets.domain.tracking import BudgetDefinition, PeriodState


@dataclass(frozen=True)
class InvoiceReading:
    """A saved invoice of one period, as spend reads it: total, (project, amount) lines, when saved."""

    currency: str
    total: Decimal
    lines: tuple[tuple[str, Decimal], ...]
    as_of: datetime


class BudgetStore(Protocol):
    async def tenant_currency(self, tenant_id: str) -> str | None: ...

    async def save_budget(self, definition: BudgetDefinition) -> bool:
        """Insert or replace, locked until commit; False when a later setting is kept already."""
        ...

    async def budgets_of(self, tenant_id: str, *, lock: bool) -> Sequence[BudgetDefinition]:
        """The tenant's budgets; with `lock`, locked until commit, so that one budget's period is decided
        by one transaction at a time (an invoice snapshot and a new setting may arrive together)."""
        ...

    async def period_state(self, budget_id: str, period: str) -> PeriodState | None: ...

    async def save_period_state(
        self, budget_id: str, period: str, state: PeriodState, at: datetime
    ) -> None: ...

    async def invoice(self, tenant_id: str, period: str) -> InvoiceReading | None: ...
