"""Budgets metering announced exhausted (a hard cap reached): no new work of the scope is admitted in
that billing period, and running work stops where the budget says so.

Revision ID: 0003
"""

from shared.db.migrations import execute_script

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BUDGETS_SQL = """
-- One row per budget: its latest exhausted period (a calendar month, UTC, YYYY-MM). A cycle honours
-- only rows of its own period, so a new month admits work again without any event.
CREATE TABLE budget_exhaustions (
    budget_id      text PRIMARY KEY,
    scope_id       text NOT NULL,
    tenant_id      text NOT NULL,
    period         text NOT NULL,
    on_exhaustion  text NOT NULL CHECK (on_exhaustion IN ('continue', 'stop')),
    exhausted_at   timestamptz NOT NULL
);
CREATE INDEX budget_exhaustions_by_period ON budget_exhaustions (period)
"""


def upgrade() -> None:
    execute_script(BUDGETS_SQL)


def downgrade() -> None:
    raise NotImplementedError("migrations are forward-only")
