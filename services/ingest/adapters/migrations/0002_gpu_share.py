"""Allocation intervals keep the share of each GPU they hold (fractional GPUs): a sample of a GPU that
several allocations share is split among them by their shares (services/ingest/domain/allocations.py).

Revision ID: 0002
"""

from shared.db.migrations import execute_script

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        "ALTER TABLE allocations ADD COLUMN gpu_share numeric NOT NULL DEFAULT 1 "
        "CHECK (gpu_share > 0 AND gpu_share <= 1)"
    )


def downgrade() -> None:
    execute_script("ALTER TABLE allocations DROP COLUMN gpu_share")
