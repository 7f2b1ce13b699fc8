"""The billing engine live: price-book plans and commitments, prepaid credit grants, invoice revisions
(void and replacement), credit and subtotal per invoice.

Revision ID: 0004
"""

from alembic import op

from shared.db.migrations import execute_script

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TABLES_SQL = """
ALTER TABLE price_books
    ADD COLUMN plans jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN commitments jsonb NOT NULL DEFAULT '[]';
CREATE TABLE credit_grants (
    grant_id         text PRIMARY KEY,
    tenant_id        text NOT NULL,
    source_event_id  uuid NOT NULL UNIQUE,
    amount           numeric NOT NULL CHECK (amount > 0),
    currency         text NOT NULL,
    note             text NOT NULL,
    granted_at       timestamptz NOT NULL
);
CREATE INDEX credit_grants_by_tenant ON credit_grants (tenant_id);
ALTER TABLE invoices DROP CONSTRAINT invoices_pkey;
ALTER TABLE invoices DROP CONSTRAINT invoices_status_check;
ALTER TABLE invoices ADD CONSTRAINT invoices_status_check CHECK (status IN ('draft', 'finalized', 'void'));
ALTER TABLE invoices
    ADD COLUMN revision          integer NOT NULL DEFAULT 1,
    ADD COLUMN replaces          text,
    ADD COLUMN subtotal          numeric,
    ADD COLUMN credit_opening    numeric NOT NULL DEFAULT 0,
    ADD COLUMN credit_applied    numeric NOT NULL DEFAULT 0,
    ADD COLUMN credit_remaining  numeric NOT NULL DEFAULT 0,
    ADD COLUMN voided_at         timestamptz,
    ADD COLUMN void_reason       text;
CREATE UNIQUE INDEX invoices_open_per_period ON invoices (tenant_id, period) WHERE status <> 'void';
CREATE INDEX invoices_by_tenant_period ON invoices (tenant_id, period)
"""

# A finalized invoice changes once more at most: to void, with nothing but its void fields. A void one
# never changes. (One statement: execute_script would split the body at its semicolons.)
FINALIZED_ARE_IMMUTABLE_SQL = """
CREATE OR REPLACE FUNCTION invoices_finalized_are_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status = 'void' OR (OLD.status = 'finalized' AND NOT (
        TG_OP = 'UPDATE' AND NEW.status = 'void'
        AND (NEW.tenant_id, NEW.period, NEW.invoice_id, NEW.currency, NEW.lines, NEW.total, NEW.subtotal,
             NEW.credit_applied, NEW.revision, NEW.finalized_at)
            IS NOT DISTINCT FROM
            (OLD.tenant_id, OLD.period, OLD.invoice_id, OLD.currency, OLD.lines, OLD.total, OLD.subtotal,
             OLD.credit_applied, OLD.revision, OLD.finalized_at)
    )) THEN
        RAISE EXCEPTION 'invoice % is % and cannot change', OLD.invoice_id, OLD.status;
    END IF;
    RETURN COALESCE(NEW, OLD);
END
$$
"""


def upgrade() -> None:
    execute_script(TABLES_SQL)
    op.execute(FINALIZED_ARE_IMMUTABLE_SQL)


def downgrade() -> None:
    raise NotImplementedError("migrations are forward-only")
