"""The usage pipeline: raw usage and allocation events, minute / hour / day rollups, usage charges.

Revision ID: 0002
"""

from shared.db.migrations import execute_script

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Rollups of one grain: one row per (tenant, window, project, meter, GPU model). The primary key leads
# with the tenant and the window, which is how every query reads them (one tenant's date range).
# Every meter counts something non-negative, so no cell can hold negative energy, even by mistake.
# Room left in each page (fillfactor) lets the upserts update cells in place (HOT: no index write).
ROLLUP_SQL = """
CREATE TABLE usage_rollup_{grain} (
    tenant_id     text NOT NULL,
    window_start  timestamptz NOT NULL,
    project_id    text NOT NULL,
    meter         text NOT NULL,
    gpu_model     text NOT NULL,
    sum           numeric NOT NULL,
    count         bigint NOT NULL CHECK (count > 0),
    max           numeric NOT NULL,
    latest        numeric NOT NULL,
    latest_at     timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, window_start, project_id, meter, gpu_model),
    CHECK (sum >= 0 AND max >= 0 AND latest >= 0)
) WITH (fillfactor = 70)
"""

TABLES_SQL = """
CREATE TABLE usage_events (
    tenant_id            text NOT NULL,
    source               text NOT NULL,
    source_event_id      text NOT NULL,
    event_id             uuid NOT NULL,
    project_id           text NOT NULL,
    window_start         timestamptz NOT NULL,
    window_end           timestamptz NOT NULL CHECK (window_end >= window_start),
    job_id               text,
    node_id              text,
    gpu_uuid             text,
    gpu_model            text,
    gpu_utilization_pct  double precision CHECK (gpu_utilization_pct BETWEEN 0 AND 100),
    memory_used_mib      bigint CHECK (memory_used_mib >= 0),
    energy_j             numeric NOT NULL CHECK (energy_j >= 0),
    requests             bigint NOT NULL CHECK (requests >= 0),
    input_tokens         bigint NOT NULL CHECK (input_tokens >= 0),
    output_tokens        bigint NOT NULL CHECK (output_tokens >= 0),
    model_name           text,
    occurred_at          timestamptz NOT NULL,
    period               text NOT NULL,
    PRIMARY KEY (tenant_id, source, source_event_id)
);
CREATE TABLE allocation_events (
    event_id       uuid PRIMARY KEY,
    tenant_id      text NOT NULL,
    project_id     text NOT NULL,
    job_id         text NOT NULL,
    allocation_id  text NOT NULL,
    node_id        text NOT NULL,
    gpu_model      text NOT NULL,
    gpu_count      integer NOT NULL CHECK (gpu_count >= 1),
    bound_at       timestamptz NOT NULL,
    released_at    timestamptz NOT NULL CHECK (released_at >= bound_at),
    reason         text NOT NULL,
    epoch          bigint NOT NULL,
    occurred_at    timestamptz NOT NULL,
    period         text NOT NULL
);
CREATE INDEX allocation_events_by_tenant ON allocation_events (tenant_id, released_at);
CREATE INDEX allocation_events_by_invoice ON allocation_events (tenant_id, period);
CREATE TABLE rated_usage (
    tenant_id      text NOT NULL,
    period         text NOT NULL,
    project_id     text NOT NULL,
    meter          text NOT NULL,
    unit_price     numeric NOT NULL CHECK (unit_price >= 0),
    base_quantity  numeric NOT NULL CHECK (base_quantity >= 0),
    priced_at      timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, period, project_id, meter, unit_price)
);
"""


def upgrade() -> None:
    execute_script(TABLES_SQL)
    for grain in ("minute", "hour", "day"):
        execute_script(ROLLUP_SQL.format(grain=grain))


def downgrade() -> None:
    raise NotImplementedError("migrations are forward-only")
