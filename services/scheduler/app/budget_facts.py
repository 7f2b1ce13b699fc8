"""Budgets metering announced exhausted or restored, recorded for the leader's admission (any instance).

A project or tenant whose budget is exhausted in the current billing period gets no new work admitted;
its running work continues, or is stopped where the budget's policy says so. A restored budget (raised,
or its cap lifted) admits again at once; a new period does without any event, as a cycle honours only
exhaustions of its own period.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from shared.events.metering import BudgetExhausted, BudgetRestored


class BudgetFacts(Protocol):
    async def record_exhausted(
        self, budget_id: str, scope_id: str, tenant_id: str, period: str, on_exhaustion: str, at: datetime
    ) -> bool:
        """Keep the exhaustion unless one of a later period (or a later announcement) is kept; True
        when kept."""
        ...

    async def clear_exhausted(self, budget_id: str, period: str, at: datetime) -> bool:
        """Forget the budget's exhaustion of this period if announced before `at`; True when forgotten."""
        ...

    async def wake_scheduler(self) -> None: ...


async def budget_exhausted(store: BudgetFacts, event: BudgetExhausted) -> None:
    scope_id = event.project_id or event.tenant_id
    if await store.record_exhausted(
        event.budget_id, scope_id, event.tenant_id, event.period, event.on_exhaustion, event.occurred_at
    ):
        await store.wake_scheduler()


async def budget_restored(store: BudgetFacts, event: BudgetRestored) -> None:
    if await store.clear_exhausted(event.budget_id, event.period, event.occurred_at):
        await store.wake_scheduler()
