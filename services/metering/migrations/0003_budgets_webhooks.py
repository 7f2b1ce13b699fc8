"""Budgets (definitions and what each period announced) and webhooks (endpoints, deliveries, attempts).

Revision ID: 0003
"""

from shared.db.migrations import execute_script

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLES_SQL = """
CREATE TABLE budgets (
    budget_id           text PRIMARY KEY,
    tenant_id           text NOT NULL,
    project_id          text,
    amount              numeric NOT NULL CHECK (amount > 0),
    currency            text NOT NULL,
    thresholds_percent  numeric[] NOT NULL,
    hard_cap            boolean NOT NULL,
    on_exhaustion       text NOT NULL CHECK (on_exhaustion IN ('continue', 'stop')),
    set_at              timestamptz NOT NULL
);
CREATE INDEX budgets_by_tenant ON budgets (tenant_id);
CREATE TABLE budget_periods (
    budget_id           text NOT NULL REFERENCES budgets ON DELETE CASCADE,
    period              text NOT NULL,
    amount              numeric NOT NULL,
    thresholds_emitted  numeric[] NOT NULL,
    exhausted           boolean NOT NULL,
    on_exhaustion       text NOT NULL,
    spend               numeric NOT NULL,
    forecast_spend      numeric NOT NULL,
    spend_as_of         timestamptz,
    evaluated_at        timestamptz NOT NULL,
    PRIMARY KEY (budget_id, period)
);
CREATE TABLE webhook_endpoints (
    endpoint_id  text PRIMARY KEY,
    tenant_id    text NOT NULL,
    url          text NOT NULL,
    secret       text NOT NULL,
    event_types  text[] NOT NULL,
    active       boolean NOT NULL,
    set_at       timestamptz NOT NULL
);
CREATE INDEX webhook_endpoints_by_tenant ON webhook_endpoints (tenant_id) WHERE active;
CREATE TABLE webhook_deliveries (
    delivery_id      bigserial PRIMARY KEY,
    endpoint_id      text NOT NULL REFERENCES webhook_endpoints,
    tenant_id        text NOT NULL,
    event_id         uuid NOT NULL,
    event_type       text NOT NULL,
    body             bytea NOT NULL,
    status           text NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz,
    created_at       timestamptz NOT NULL,
    finished_at      timestamptz,
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_tenant ON webhook_deliveries (tenant_id, delivery_id);
CREATE TABLE webhook_attempts (
    delivery_id    bigint NOT NULL REFERENCES webhook_deliveries ON DELETE CASCADE,
    attempt        integer NOT NULL CHECK (attempt >= 1),
    attempted_at   timestamptz NOT NULL,
    status_code    integer,
    error          text,
    duration_ms    double precision NOT NULL,
    next_retry_at  timestamptz,
    PRIMARY KEY (delivery_id, attempt)
);
"""


def upgrade() -> None:
    execute_script(TABLES_SQL)


def downgrade() -> None:
    raise NotImplementedError("migrations are forward-only")
