"""Metering's processed_events found by age, for its pruning (shared/messaging/retention.py), and a
tenant's webhook deliveries in the order their pages are read (newest first, webhooks/adapters/store.py).

Revision ID: 0006
"""

from shared.db.migrations import DROP_PROCESSED_EVENTS_BY_AGE_SQL, PROCESSED_EVENTS_BY_AGE_SQL, execute_script

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

UPGRADE_SQL = """
CREATE INDEX webhook_deliveries_newest_first ON webhook_deliveries (tenant_id, created_at DESC, delivery_id DESC)
"""
DOWNGRADE_SQL = """
DROP INDEX webhook_deliveries_newest_first
"""


def upgrade() -> None:
    execute_script(PROCESSED_EVENTS_BY_AGE_SQL)
    execute_script(UPGRADE_SQL)


def downgrade() -> None:
    execute_script(DOWNGRADE_SQL)
    execute_script(DROP_PROCESSED_EVENTS_BY_AGE_SQL)
