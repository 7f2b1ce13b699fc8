"""The invoice read model's billing-engine fields: revision, the voided invoice a revision replaces,
subtotal and prepaid credit applied, and the reason of a void.

Revision ID: 0002
"""

from shared.db.migrations import execute_script

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

COLUMNS_SQL = """
ALTER TABLE invoices
    ADD COLUMN revision        integer NOT NULL DEFAULT 1,
    ADD COLUMN replaces        text,
    ADD COLUMN subtotal        numeric,
    ADD COLUMN credit_applied  numeric NOT NULL DEFAULT 0,
    ADD COLUMN void_reason     text
"""


def upgrade() -> None:
    execute_script(COLUMNS_SQL)


def downgrade() -> None:
    raise NotImplementedError("migrations are forward-only")
