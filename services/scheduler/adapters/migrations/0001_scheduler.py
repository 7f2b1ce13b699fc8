"""The scheduler schema: messaging tables, leader fence, quotas, jobs, nodes, GPUs, allocations, strays.

Revision ID: 0001
"""

from shared.db.migrations import MESSAGING_TABLES_SQL, execute_script

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SCHEDULER_TABLES_SQL = """
CREATE TABLE leader_fence (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    epoch     bigint NOT NULL
);
INSERT INTO leader_fence (singleton, epoch) VALUES (true, 0);
CREATE TABLE quotas (
    project_id text NOT NULL,
    gpu_model  text NOT NULL,
    tenant_id  text NOT NULL,
    gpus       integer NOT NULL CHECK (gpus >= 0),
    set_at     timestamptz NOT NULL,
    PRIMARY KEY (project_id, gpu_model)
);
CREATE TABLE jobs (
    job_id              text PRIMARY KEY,
    tenant_id           text NOT NULL,
    project_id          text NOT NULL,
    spec                jsonb NOT NULL,
    restart_policy      text NOT NULL,
    replicas            integer NOT NULL,
    submitted_at        timestamptz NOT NULL,
    state               text NOT NULL,
    reason              text NOT NULL DEFAULT '',
    version             integer NOT NULL,
    attempt             integer NOT NULL DEFAULT 0,
    cancel_requested_at timestamptz,
    ending_state        text,
    ending_reason       text
);
CREATE INDEX jobs_queue ON jobs (submitted_at, job_id)
    WHERE state = 'pending' AND cancel_requested_at IS NULL AND ending_state IS NULL;
CREATE INDEX jobs_cancel_requests ON jobs (job_id)
    WHERE cancel_requested_at IS NOT NULL AND ending_state IS NULL
      AND state NOT IN ('succeeded', 'failed', 'cancelled');
CREATE TABLE nodes (
    node_id       text PRIMARY KEY,
    hostname      text NOT NULL,
    backend       text NOT NULL,
    labels        jsonb NOT NULL DEFAULT '{}',
    state         text NOT NULL,
    registered_at timestamptz NOT NULL,
    last_seen     timestamptz NOT NULL,
    lost_at       timestamptz
);
CREATE INDEX nodes_ready_by_last_seen ON nodes (last_seen) WHERE state = 'ready';
CREATE TABLE gpus (
    uuid          text PRIMARY KEY,
    node_id       text NOT NULL REFERENCES nodes (node_id),
    device_index  integer NOT NULL,
    model         text NOT NULL,
    memory_mib    integer NOT NULL,
    healthy       boolean NOT NULL DEFAULT true,
    present       boolean NOT NULL DEFAULT true,
    -- The live allocation holding this GPU; set only when it was NULL, so no GPU is bound twice.
    allocation_id text
);
CREATE INDEX gpus_by_node ON gpus (node_id, device_index);
CREATE TABLE allocations (
    allocation_id     text PRIMARY KEY,
    job_id            text NOT NULL REFERENCES jobs (job_id),
    attempt           integer NOT NULL,
    replica           integer NOT NULL,
    tenant_id         text NOT NULL,
    project_id        text NOT NULL,
    node_id           text NOT NULL REFERENCES nodes (node_id),
    gpu_model         text NOT NULL,
    gpu_uuids         text[] NOT NULL,
    bound_at          timestamptz NOT NULL,
    epoch             bigint NOT NULL,
    started_at        timestamptz,
    -- Facts reported by the agent (or inferred at re-registration), settled by the leader.
    exited_at         timestamptz,
    exit_code         integer,
    exit_cause        text,
    stop_requested_at timestamptz,
    stop_reason       text,
    released_at       timestamptz,
    release_cause     text,
    released_epoch    bigint
);
CREATE INDEX allocations_by_job ON allocations (job_id);
CREATE INDEX allocations_live_by_node ON allocations (node_id) WHERE released_at IS NULL;
CREATE INDEX allocations_exited_unreleased ON allocations (exited_at)
    WHERE exited_at IS NOT NULL AND released_at IS NULL;
CREATE TABLE stray_workloads (
    allocation_id text PRIMARY KEY,
    node_id       text NOT NULL,
    job_id        text NOT NULL,
    noticed_at    timestamptz NOT NULL
)
"""


def upgrade() -> None:
    execute_script(MESSAGING_TABLES_SQL)
    execute_script(SCHEDULER_TABLES_SQL)
