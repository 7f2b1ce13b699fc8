"""API keys' lifecycle: an expiry, revocation, the last use (to the minute), and a rotated key's previous
secret with the end of its grace; keys listed per tenant in (created_at, key_id) order.

Revision ID: 0006
"""

from shared.db.migrations import execute_script

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SQL = """
ALTER TABLE api_keys
    ADD COLUMN expires_at timestamptz,
    ADD COLUMN last_used_at timestamptz,
    ADD COLUMN revoked_at timestamptz,
    ADD COLUMN previous_key_hash text UNIQUE,
    ADD COLUMN previous_key_expires_at timestamptz;
CREATE INDEX api_keys_by_tenant ON api_keys (tenant_id, created_at, key_id);
CREATE INDEX api_keys_by_time ON api_keys (created_at, key_id)
"""


def upgrade() -> None:
    execute_script(SQL)


def downgrade() -> None:
    raise NotImplementedError("migrations are forward-only")
