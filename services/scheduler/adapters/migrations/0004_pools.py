"""Pools: a node belongs to the pool its `pool` label names, a job to the pool its spec names; each
pool's queue is read on its own, so the queue's indexes lead with the pool.

Revision ID: 0004
"""

from shared.db.migrations import execute_script

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

POOLS_SQL = """
ALTER TABLE nodes ADD COLUMN pool text NOT NULL DEFAULT 'default';
UPDATE nodes SET pool = labels->>'pool' WHERE labels->>'pool' IS NOT NULL;
ALTER TABLE jobs ADD COLUMN pool text NOT NULL DEFAULT 'default';
DROP INDEX jobs_queue;
CREATE INDEX jobs_queue ON jobs (pool, submitted_at, job_id)
    WHERE state = 'pending' AND cancel_requested_at IS NULL AND ending_state IS NULL;
DROP INDEX jobs_queue_by_priority;
CREATE INDEX jobs_queue_by_priority ON jobs (pool, priority DESC, submitted_at, job_id)
    WHERE state = 'pending' AND cancel_requested_at IS NULL AND ending_state IS NULL
"""


def upgrade() -> None:
    execute_script(POOLS_SQL)


def downgrade() -> None:
    raise NotImplementedError("migrations are forward-only")
