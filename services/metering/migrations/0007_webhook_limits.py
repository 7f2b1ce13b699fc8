"""Webhook deliveries found per tenant: the dispatcher's fair claim skips from tenant to tenant with
pending deliveries and takes each one's oldest due (webhooks/adapters/store.py, CLAIM_DUE_SQL), so a
tenant's backlog costs one index probe per round, not a scan of its rows.

Revision ID: 0007
"""

from shared.db.migrations import execute_script

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

UPGRADE_SQL = """
CREATE INDEX webhook_deliveries_pending_by_tenant ON webhook_deliveries (tenant_id, next_attempt_at, delivery_id)
WHERE status = 'pending'
"""
DOWNGRADE_SQL = """
DROP INDEX webhook_deliveries_pending_by_tenant
"""


def upgrade() -> None:
    execute_script(UPGRADE_SQL)


def downgrade() -> None:
    execute_script(DOWNGRADE_SQL)
