"""The scheduler's processed_events found by age, for its pruning (shared/messaging/retention.py), and the
allocations still waiting for their workload's start, which every cycle checks against the start timeout
(adapters/pg_cycle.py TIME_OUT_STARTS_SQL): few among all allocations ever made.

Revision ID: 0006
"""

from shared.db.migrations import DROP_PROCESSED_EVENTS_BY_AGE_SQL, PROCESSED_EVENTS_BY_AGE_SQL, execute_script

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

UPGRADE_SQL = """
CREATE INDEX allocations_awaiting_start ON allocations (bound_at)
    WHERE released_at IS NULL AND started_at IS NULL AND exited_at IS NULL
"""
DOWNGRADE_SQL = """
DROP INDEX allocations_awaiting_start
"""


def upgrade() -> None:
    execute_script(PROCESSED_EVENTS_BY_AGE_SQL)
    execute_script(UPGRADE_SQL)


def downgrade() -> None:
    execute_script(DOWNGRADE_SQL)
    execute_script(DROP_PROCESSED_EVENTS_BY_AGE_SQL)
