"""Fractional GPUs: an allocation may hold a share of one GPU (thousandths), and several such shares
are time-sliced on one GPU.

A GPU is held either whole (gpus.allocation_id, as before) or in shares (gpus.shared_milli, the sum of
its fractional allocations' shares). The checks keep it from being over-committed whatever a writer
does: shares never exceed the whole GPU, and a GPU held whole holds no share.

Revision ID: 0005
"""

from shared.db.migrations import execute_script

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

FRACTIONAL_GPUS_SQL = """
ALTER TABLE allocations ADD COLUMN gpu_milli integer NOT NULL DEFAULT 1000
    CHECK (gpu_milli BETWEEN 1 AND 1000);
ALTER TABLE gpus ADD COLUMN shared_milli integer NOT NULL DEFAULT 0
    CHECK (shared_milli BETWEEN 0 AND 1000);
ALTER TABLE gpus ADD CONSTRAINT gpus_whole_or_shared CHECK (allocation_id IS NULL OR shared_milli = 0)
"""


def upgrade() -> None:
    execute_script(FRACTIONAL_GPUS_SQL)


def downgrade() -> None:
    raise NotImplementedError("migrations are forward-only")
