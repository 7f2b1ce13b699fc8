"""The BudgetStore on PostgreSQL (schema metering), bound to one transaction's connection."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

import asyncpg

from pricing.budgets import OnExhaustion
from services.metering.budgets.app.ports import InvoiceReading
from services.metering.budgets.domain.tracking import BudgetDefinition, PeriodState

# The later setting wins (set_at), whatever order the settings arrive in.
SAVE_BUDGET_SQL = """
INSERT INTO budgets (budget_id, tenant_id, project_id, amount, currency, thresholds_percent, hard_cap,
                     on_exhaustion, set_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (budget_id) DO UPDATE
SET amount = EXCLUDED.amount, currency = EXCLUDED.currency, thresholds_percent = EXCLUDED.thresholds_percent,
    hard_cap = EXCLUDED.hard_cap, on_exhaustion = EXCLUDED.on_exhaustion, set_at = EXCLUDED.set_at
WHERE budgets.set_at <= EXCLUDED.set_at AND budgets.tenant_id = EXCLUDED.tenant_id
RETURNING true
"""

SAVE_PERIOD_SQL = """
INSERT INTO budget_periods (budget_id, period, amount, thresholds_emitted, exhausted, on_exhaustion, spend,
                            forecast_spend, spend_as_of, evaluated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (budget_id, period) DO UPDATE
SET amount = EXCLUDED.amount, thresholds_emitted = EXCLUDED.thresholds_emitted, exhausted = EXCLUDED.exhausted,
    on_exhaustion = EXCLUDED.on_exhaustion, spend = EXCLUDED.spend, forecast_spend = EXCLUDED.forecast_spend,
    spend_as_of = EXCLUDED.spend_as_of, evaluated_at = EXCLUDED.evaluated_at
"""


class PgBudgetStore:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def tenant_currency(self, tenant_id: str) -> str | None:
        currency: str | None = await self._conn.fetchval(
            "SELECT currency FROM tenants WHERE tenant_id = $1", tenant_id
        )
        return currency

    async def save_budget(self, definition: BudgetDefinition) -> bool:
        saved = await self._conn.fetchval(
            SAVE_BUDGET_SQL,
            definition.budget_id,
            definition.tenant_id,
            definition.project_id,
            definition.amount,
            definition.currency,
            list(definition.thresholds_percent),
            definition.hard_cap,
            definition.on_exhaustion.value,
            definition.set_at,
        )
        return bool(saved)

    async def budgets_of(self, tenant_id: str, *, lock: bool) -> Sequence[BudgetDefinition]:
        rows = await self._conn.fetch(
            "SELECT * FROM budgets WHERE tenant_id = $1 ORDER BY budget_id" + (" FOR UPDATE" if lock else ""),
            tenant_id,
        )
        return [_definition(row) for row in rows]

    async def period_state(self, budget_id: str, period: str) -> PeriodState | None:
        row = await self._conn.fetchrow(
            "SELECT * FROM budget_periods WHERE budget_id = $1 AND period = $2", budget_id, period
        )
        if row is None:
            return None
        return PeriodState(
            amount=row["amount"],
            thresholds_emitted=frozenset(row["thresholds_emitted"]),
            exhausted=row["exhausted"],
            on_exhaustion=OnExhaustion(row["on_exhaustion"]),
            spend=row["spend"],
            forecast_spend=row["forecast_spend"],
            spend_as_of=row["spend_as_of"],
        )

    async def save_period_state(self, budget_id: str, period: str, state: PeriodState, at: datetime) -> None:
        await self._conn.execute(
            SAVE_PERIOD_SQL,
            budget_id,
            period,
            state.amount,
            sorted(state.thresholds_emitted),
            state.exhausted,
            state.on_exhaustion.value,
            state.spend,
            state.forecast_spend,
            state.spend_as_of,
            at,
        )

    async def invoice(self, tenant_id: str, period: str) -> InvoiceReading | None:
        row = await self._conn.fetchrow(
            "SELECT currency, total, lines, updated_at FROM invoices "
            "WHERE tenant_id = $1 AND period = $2 AND status <> 'void'",
            tenant_id,
            period,
        )
        if row is None:
            return None
        lines = tuple((line["project_id"], Decimal(line["amount"])) for line in row["lines"])
        return InvoiceReading(row["currency"], row["total"], lines, row["updated_at"])


def _definition(row: asyncpg.Record) -> BudgetDefinition:
    return BudgetDefinition(
        budget_id=row["budget_id"],
        tenant_id=row["tenant_id"],
        project_id=row["project_id"],
        amount=row["amount"],
        currency=row["currency"],
        thresholds_percent=tuple(row["thresholds_percent"]),
        hard_cap=row["hard_cap"],
        on_exhaustion=OnExhaustion(row["on_exhaustion"]),
        set_at=row["set_at"],
    )
