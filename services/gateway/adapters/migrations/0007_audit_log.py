"""The audit log: one row per action that changed something, written in the action's own transaction.

Append-only: triggers refuse UPDATE, DELETE and TRUNCATE on the table, whoever asks (the gateway's code
has no such statement either). Read newest first by entry id, per tenant or across all.

Revision ID: 0007
"""

from shared.db.migrations import execute_script

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SQL = """
CREATE TABLE audit_log (
    entry_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL,
    tenant_id   text,
    actor       text NOT NULL,
    key_id      text,
    role        text NOT NULL,
    action      text NOT NULL,
    target_id   text NOT NULL,
    request_id  text,
    outcome     text NOT NULL
);
CREATE INDEX audit_log_by_tenant ON audit_log (tenant_id, entry_id);
CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege'; END $$;
CREATE TRIGGER audit_log_no_update_or_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change()
"""


def upgrade() -> None:
    execute_script(SQL)


def downgrade() -> None:
    raise NotImplementedError("migrations are forward-only")
