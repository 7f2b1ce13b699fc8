"""Ingest's schema: messaging tables, dedupe keys, allocation intervals, known tenants and projects.

Revision ID: 0001
"""

from shared.db.migrations import MESSAGING_TABLES_SQL, execute_script

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

INGEST_TABLES_SQL = """
CREATE TABLE sample_keys (
    node_id     text NOT NULL,
    gpu_uuid    text NOT NULL,
    occurred_at timestamptz NOT NULL,
    event_id    uuid NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (node_id, gpu_uuid, occurred_at)
);
CREATE INDEX sample_keys_occurred_at ON sample_keys (occurred_at);
CREATE TABLE external_keys (
    source      text NOT NULL,
    event_id    text NOT NULL,
    event_time  timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, event_id)
);
CREATE INDEX external_keys_event_time ON external_keys (event_time);
CREATE TABLE allocations (
    allocation_id text PRIMARY KEY,
    tenant_id     text NOT NULL,
    project_id    text NOT NULL,
    job_id        text NOT NULL,
    node_id       text NOT NULL,
    gpu_model     text NOT NULL,
    bound_at      timestamptz NOT NULL,
    released_at   timestamptz
);
CREATE INDEX allocations_released_at ON allocations (released_at);
CREATE TABLE allocation_gpus (
    allocation_id text NOT NULL REFERENCES allocations (allocation_id) ON DELETE CASCADE,
    gpu_uuid      text NOT NULL,
    PRIMARY KEY (allocation_id, gpu_uuid)
);
CREATE INDEX allocation_gpus_gpu ON allocation_gpus (gpu_uuid);
CREATE TABLE tenants (
    tenant_id  text PRIMARY KEY,
    name       text NOT NULL
);
CREATE TABLE projects (
    tenant_id  text NOT NULL,
    project_id text NOT NULL,
    name       text NOT NULL,
    PRIMARY KEY (tenant_id, project_id)
)
"""


def upgrade() -> None:
    execute_script(MESSAGING_TABLES_SQL)
    execute_script(INGEST_TABLES_SQL)
