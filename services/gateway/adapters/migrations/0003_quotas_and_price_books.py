"""What the operator set, kept for reading back: each project's quota per GPU model, and every price book
version (the PriceBookSet event as emitted), so `GET .../quotas` and `GET .../price-book` can answer.

Revision ID: 0003
"""

from shared.db.migrations import execute_script

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLES_SQL = """
CREATE TABLE quotas (
    project_id  text NOT NULL REFERENCES projects (project_id),
    gpu_model   text NOT NULL,
    gpus        integer NOT NULL CHECK (gpus >= 0),
    set_at      timestamptz NOT NULL,
    PRIMARY KEY (project_id, gpu_model)
);
CREATE TABLE price_books (
    tenant_id       text NOT NULL REFERENCES tenants (tenant_id),
    effective_from  timestamptz NOT NULL,
    set_at          timestamptz NOT NULL,
    event           jsonb NOT NULL
);
CREATE INDEX price_books_by_tenant ON price_books (tenant_id, effective_from DESC, set_at DESC)
"""


def upgrade() -> None:
    execute_script(TABLES_SQL)


def downgrade() -> None:
    raise NotImplementedError("migrations are forward-only")
