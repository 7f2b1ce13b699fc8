"""The gateway schema: tenants, API keys, projects, and the job, node and invoice read models.

Revision ID: 0001
"""

from shared.db.migrations import MESSAGING_TABLES_SQL, execute_script

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

GATEWAY_TABLES_SQL = """
CREATE TABLE tenants (
    tenant_id   text PRIMARY KEY,
    name        text NOT NULL,
    currency    text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    created_at  timestamptz NOT NULL
);
CREATE TABLE api_keys (
    key_id      text PRIMARY KEY,
    tenant_id   text NOT NULL REFERENCES tenants (tenant_id),
    role        text NOT NULL CHECK (role IN ('admin', 'member', 'viewer')),
    name        text NOT NULL,
    key_hash    text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL
);
CREATE TABLE projects (
    project_id  text PRIMARY KEY,
    tenant_id   text NOT NULL REFERENCES tenants (tenant_id),
    name        text NOT NULL,
    created_at  timestamptz NOT NULL,
    UNIQUE (tenant_id, name)
);
CREATE TABLE jobs (
    job_id               text PRIMARY KEY,
    tenant_id            text NOT NULL REFERENCES tenants (tenant_id),
    project_id           text NOT NULL REFERENCES projects (project_id),
    spec                 jsonb NOT NULL,
    state                text NOT NULL,
    reason               text NOT NULL DEFAULT '',
    version              integer NOT NULL DEFAULT 0,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    cancel_requested_at  timestamptz,
    idempotency_key      text,
    request_fingerprint  text
);
CREATE UNIQUE INDEX jobs_idempotency_key ON jobs (tenant_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobs_by_tenant ON jobs (tenant_id, created_at DESC, job_id DESC);
CREATE INDEX jobs_by_project ON jobs (project_id, created_at DESC, job_id DESC);
CREATE INDEX jobs_by_time ON jobs (created_at DESC, job_id DESC);
CREATE TABLE nodes (
    node_id     text PRIMARY KEY,
    state       text NOT NULL,
    gpu_model   text NOT NULL,
    gpu_count   integer NOT NULL,
    changed_at  timestamptz NOT NULL
);
CREATE TABLE invoices (
    invoice_id   text PRIMARY KEY,
    tenant_id    text NOT NULL,
    period       text NOT NULL,
    status       text NOT NULL,
    currency     text NOT NULL,
    lines        jsonb NOT NULL,
    total        numeric NOT NULL,
    final        boolean NOT NULL,
    snapshot_at  timestamptz NOT NULL
);
CREATE INDEX invoices_by_tenant ON invoices (tenant_id, period)
"""


def upgrade() -> None:
    execute_script(MESSAGING_TABLES_SQL)
    execute_script(GATEWAY_TABLES_SQL)
