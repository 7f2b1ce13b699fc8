"""The usage pipeline, second round:

1. Raw allocations and usage records keep their GPU share (fractional GPUs), so rebuilds bill and roll up
   what the live path did.
2. Raw usage records are unique by event id. A record's event id names it whatever message carries it
   (ingest derives an agent sample's from the sample's natural key), so this keeps each record once even
   when it comes again in another batch, attributed otherwise after an ingest crash.
3. Usage waiting for its tenant to become billable (metering does not know the tenant, or it has no price
   book yet): set aside in the batch's transaction, retried, dead-lettered with the reason once it has
   waited too long (services/metering/app/usage.py).

Revision ID: 0005
"""

from shared.db.migrations import execute_script

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

UPGRADE_SQL = """
ALTER TABLE usage_events ADD COLUMN gpu_share numeric NOT NULL DEFAULT 1
    CHECK (gpu_share > 0 AND gpu_share <= 1);
ALTER TABLE allocation_events ADD COLUMN gpu_share numeric NOT NULL DEFAULT 1
    CHECK (gpu_share > 0 AND gpu_share <= 1);
CREATE UNIQUE INDEX usage_events_event_id ON usage_events (event_id);
CREATE TABLE usage_waiting (
    event_id   uuid PRIMARY KEY,
    tenant_id  text NOT NULL,
    record     jsonb NOT NULL,
    reason     text NOT NULL,
    since      timestamptz NOT NULL
);
CREATE INDEX usage_waiting_since ON usage_waiting (since);
"""


def upgrade() -> None:
    execute_script(UPGRADE_SQL)


def downgrade() -> None:
    execute_script(
        "DROP TABLE usage_waiting; DROP INDEX usage_events_event_id; "
        "ALTER TABLE allocation_events DROP COLUMN gpu_share; ALTER TABLE usage_events DROP COLUMN gpu_share"
    )
