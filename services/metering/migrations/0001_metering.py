"""Metering: tenants, price-book versions, rated items and charges, invoices, dirty marks.

Revision ID: 0001
"""

from alembic import op

from shared.db.migrations import MESSAGING_TABLES_SQL, execute_script

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TABLES_SQL = """
CREATE TABLE tenants (
    tenant_id          text PRIMARY KEY,
    name               text NOT NULL,
    currency           text NOT NULL,
    last_published_at  timestamptz
);
CREATE TABLE price_books (
    id               bigserial PRIMARY KEY,
    tenant_id        text NOT NULL REFERENCES tenants,
    source_event_id  uuid NOT NULL UNIQUE,
    effective_from   timestamptz NOT NULL,
    currency         text NOT NULL,
    gpu_hour         jsonb NOT NULL,
    per_1k_tokens    numeric NOT NULL,
    per_request      numeric NOT NULL,
    per_kwh          numeric NOT NULL
);
CREATE INDEX price_books_by_tenant ON price_books (tenant_id, effective_from, id);
CREATE TABLE rated_items (
    id               bigserial PRIMARY KEY,
    source_event_id  uuid NOT NULL UNIQUE,
    source_key       text NOT NULL,
    kind             text NOT NULL CHECK (kind IN ('allocation', 'usage')),
    tenant_id        text NOT NULL,
    project_id       text NOT NULL,
    usage_period     text NOT NULL,
    period           text NOT NULL,
    occurred_at      timestamptz NOT NULL,
    priced_at        timestamptz NOT NULL,
    rated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, source_key)
);
CREATE INDEX rated_items_by_invoice ON rated_items (tenant_id, period);
CREATE TABLE rated_charges (
    rated_item_id  bigint NOT NULL REFERENCES rated_items ON DELETE CASCADE,
    meter          text NOT NULL,
    gpu_model      text,
    base_quantity  numeric NOT NULL CHECK (base_quantity >= 0),
    unit_price     numeric CHECK (unit_price >= 0),
    priced_at      timestamptz NOT NULL,
    PRIMARY KEY (rated_item_id, meter)
);
CREATE TABLE invoices (
    tenant_id     text NOT NULL,
    period        text NOT NULL,
    invoice_id    text NOT NULL UNIQUE,
    status        text NOT NULL CHECK (status IN ('draft', 'finalized')),
    currency      text NOT NULL,
    lines         jsonb NOT NULL,
    total         numeric NOT NULL,
    updated_at    timestamptz NOT NULL,
    finalized_at  timestamptz,
    PRIMARY KEY (tenant_id, period)
);
CREATE TABLE dirty_invoices (
    tenant_id  text NOT NULL,
    period     text NOT NULL,
    PRIMARY KEY (tenant_id, period)
);
"""

# One statement on its own: execute_script would split the function body at its semicolons.
FINALIZED_ARE_IMMUTABLE_SQL = """
CREATE FUNCTION invoices_finalized_are_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status = 'finalized' THEN
        RAISE EXCEPTION 'invoice % is finalized and cannot change', OLD.invoice_id;
    END IF;
    RETURN COALESCE(NEW, OLD);
END
$$
"""


def upgrade() -> None:
    execute_script(MESSAGING_TABLES_SQL)
    execute_script(TABLES_SQL)
    op.execute(FINALIZED_ARE_IMMUTABLE_SQL)
    op.execute(
        "CREATE TRIGGER invoices_finalized_are_immutable BEFORE UPDATE OR DELETE ON invoices "
        "FOR EACH ROW EXECUTE FUNCTION invoices_finalized_are_immutable()"
    )


def downgrade() -> None:
    raise NotImplementedError("migrations are forward-only")
