"""Samples held back until the release of an allocation they may belong to (domain/allocations.py,
unsettled): a row per (sample, allocation it waits for); the sample is attributed once none is left.

Revision ID: 0003
"""

from shared.db.migrations import execute_script

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        CREATE TABLE held_samples (
            sample_event_id uuid NOT NULL,
            allocation_id   text NOT NULL,
            body            text NOT NULL,
            PRIMARY KEY (sample_event_id, allocation_id)
        );
        CREATE INDEX held_samples_by_allocation ON held_samples (allocation_id);
        """
    )


def downgrade() -> None:
    execute_script("DROP TABLE held_samples")
