"""What the policy engine needs: jobs' priority class (queue order) and preemption, fair-share history,
and a revision of the fleet so that cycles reload it only when it changed.

Revision ID: 0002
"""

from shared.db.migrations import execute_script

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

POLICY_ENGINE_SQL = """
ALTER TABLE jobs ADD COLUMN priority integer NOT NULL DEFAULT 0;
UPDATE jobs SET priority = COALESCE((spec->>'priority')::int, 0);
-- Why the job was preempted, while it is (state preempted): its pending reason once requeued.
ALTER TABLE jobs ADD COLUMN preemption text;
CREATE INDEX jobs_queue_by_priority ON jobs (priority DESC, submitted_at, job_id)
    WHERE state = 'pending' AND cancel_requested_at IS NULL AND ending_state IS NULL;
-- Decayed GPU-seconds per queue (project), kept by the leader's cycles for fair sharing.
CREATE TABLE usage_history (
    queue_id    text PRIMARY KEY,
    tenant_id   text NOT NULL,
    gpu_seconds double precision NOT NULL CHECK (gpu_seconds >= 0)
);
CREATE TABLE usage_history_clock (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    decayed_at timestamptz
);
INSERT INTO usage_history_clock (singleton, decayed_at) VALUES (true, NULL);
-- Moves with every change of the fleet's shape (a registration, a node lost; GPU health when it is
-- recorded), in the changing transaction: the leader reloads nodes and GPUs only when it moved.
CREATE TABLE fleet_revision (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    revision  bigint NOT NULL
);
INSERT INTO fleet_revision (singleton, revision) VALUES (true, 0)
"""


def upgrade() -> None:
    execute_script(POLICY_ENGINE_SQL)
