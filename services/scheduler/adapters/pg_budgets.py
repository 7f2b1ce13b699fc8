"""Budget exhaustions on PostgreSQL (schema scheduler): recorded by the budget consumer, read by the
leader's cycle for admission (the engine's budget gate) and for stopping running work."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from services.scheduler.adapters.pg_facts import WAKE_CHANNEL
from services.scheduler.domain.budget_stops import BudgetedJob
from shared.db.pool import Tx

# A later period replaces an earlier one; within a period the later announcement wins (its policy).
RECORD_EXHAUSTED_SQL = """
INSERT INTO budget_exhaustions (budget_id, scope_id, tenant_id, period, on_exhaustion, exhausted_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (budget_id) DO UPDATE
SET scope_id = EXCLUDED.scope_id, tenant_id = EXCLUDED.tenant_id, period = EXCLUDED.period,
    on_exhaustion = EXCLUDED.on_exhaustion, exhausted_at = EXCLUDED.exhausted_at
WHERE (budget_exhaustions.period, budget_exhaustions.exhausted_at) <= (EXCLUDED.period, EXCLUDED.exhausted_at)
RETURNING true
"""

# Jobs holding GPUs, not told to stop yet, of a scope whose budget says stop in this period (the
# project's budget named first when both are exhausted). Always within the budget's own tenant.
BUDGET_STOPS_SQL = """
SELECT DISTINCT ON (j.job_id) j.job_id, b.scope_id, b.scope_id = j.project_id AS of_project
FROM budget_exhaustions b
JOIN jobs j ON j.tenant_id = b.tenant_id AND (j.project_id = b.scope_id OR j.tenant_id = b.scope_id)
WHERE b.period = $1 AND b.on_exhaustion = 'stop' AND j.ending_state IS NULL
  AND EXISTS (SELECT 1 FROM allocations a
              WHERE a.job_id = j.job_id AND a.released_at IS NULL AND a.stop_requested_at IS NULL)
ORDER BY j.job_id, of_project DESC
"""


class PgBudgetFacts:
    def __init__(self, tx: Tx) -> None:
        self._conn = tx.conn

    async def record_exhausted(
        self, budget_id: str, scope_id: str, tenant_id: str, period: str, on_exhaustion: str, at: datetime
    ) -> bool:
        kept = await self._conn.fetchval(
            RECORD_EXHAUSTED_SQL, budget_id, scope_id, tenant_id, period, on_exhaustion, at
        )
        return bool(kept)

    async def clear_exhausted(self, budget_id: str, period: str, at: datetime) -> bool:
        status = await self._conn.execute(
            "DELETE FROM budget_exhaustions WHERE budget_id = $1 AND period = $2 AND exhausted_at <= $3",
            budget_id,
            period,
            at,
        )
        return bool(status != "DELETE 0")

    async def wake_scheduler(self) -> None:
        await self._conn.execute(f"NOTIFY {WAKE_CHANNEL}")


async def exhausted_scopes(conn: asyncpg.Connection, period: str) -> frozenset[str]:
    """Projects and tenants with no new work admitted in the period."""
    rows = await conn.fetch("SELECT scope_id FROM budget_exhaustions WHERE period = $1", period)
    return frozenset(row["scope_id"] for row in rows)


async def budgeted_jobs_to_stop(conn: asyncpg.Connection, period: str) -> list[BudgetedJob]:
    rows = await conn.fetch(BUDGET_STOPS_SQL, period)
    return [
        BudgetedJob(row["job_id"], "project" if row["of_project"] else "tenant", row["scope_id"])
        for row in rows
    ]
