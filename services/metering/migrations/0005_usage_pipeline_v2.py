"""The usage pipeline, second round:

1. Raw allocations and usage records keep their GPU share (fractional GPUs), so rebuilds bill and roll up
   what the live path did.
2. Raw usage records are unique by event id. A record's event id names it whatever message carries it
   (ingest derives an agent sample's from the sample's natural key), so this keeps each record once even
   when it comes again in another batch, attributed otherwise after an ingest crash.
3. Usage charges are summed per the billing ledger's key (billed period, usage period, price-book
   version, project, meter; usage_billing.py), so a draft invoice is priced from these sums alone, late
   usage and plans on usage meters included, never by scanning the raw records. Existing sums are kept:
   their usage period is taken to be their billed period and their version the one in effect when
   they were last priced (what was billed that way before).
4. The fleet's day rollups of a month, across tenants, are found by window (chargeback's query; their
   primary key leads with the tenant).
5. Usage waiting for its tenant to become billable (metering does not know the tenant, or it has no price
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
ALTER TABLE rated_usage RENAME TO rated_usage_by_price;
CREATE TABLE rated_usage (
    tenant_id      text NOT NULL,
    period         text NOT NULL,
    usage_period   text NOT NULL,
    version        timestamptz NOT NULL,
    project_id     text NOT NULL,
    meter          text NOT NULL,
    unit_price     numeric NOT NULL CHECK (unit_price >= 0),
    base_quantity  numeric NOT NULL CHECK (base_quantity >= 0),
    priced_at      timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, period, usage_period, version, project_id, meter)
);
INSERT INTO rated_usage
SELECT tenant_id, period, period, version, project_id, meter, (array_agg(unit_price ORDER BY priced_at DESC))[1],
    sum(base_quantity), max(priced_at)
FROM (
    SELECT r.*, coalesce(
        (SELECT max(b.effective_from) FROM price_books b WHERE b.tenant_id = r.tenant_id AND b.effective_from <= r.priced_at),
        (SELECT min(b.effective_from) FROM price_books b WHERE b.tenant_id = r.tenant_id)) AS version
    FROM rated_usage_by_price r
) AS old
WHERE version IS NOT NULL
GROUP BY tenant_id, period, version, project_id, meter;
DROP TABLE rated_usage_by_price;
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
CREATE INDEX usage_rollup_day_by_window ON usage_rollup_day (window_start, meter);
"""


def upgrade() -> None:
    execute_script(UPGRADE_SQL)


DOWNGRADE_SQL = """
DROP TABLE usage_waiting;
DROP INDEX usage_events_event_id;
DROP INDEX usage_rollup_day_by_window;
ALTER TABLE allocation_events DROP COLUMN gpu_share;
ALTER TABLE usage_events DROP COLUMN gpu_share;
ALTER TABLE rated_usage RENAME TO rated_usage_by_version;
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
INSERT INTO rated_usage
SELECT tenant_id, period, project_id, meter, unit_price, sum(base_quantity), max(priced_at)
FROM rated_usage_by_version GROUP BY 1, 2, 3, 4, 5;
DROP TABLE rated_usage_by_version;
"""


def downgrade() -> None:
    execute_script(DOWNGRADE_SQL)
