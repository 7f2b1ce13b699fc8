"""When each sample was held, so that samples held longer than the retention (a release ingest never
heard) can be found and dead-lettered (app/maintenance.py). Rows held before this revision count from it.

Revision ID: 0004
"""

from shared.db.migrations import execute_script

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # now() is stable, so PostgreSQL fills the existing rows without rewriting the table.
    execute_script(
        """
        ALTER TABLE held_samples ADD COLUMN held_at timestamptz NOT NULL DEFAULT now();
        CREATE INDEX held_samples_held_at ON held_samples (held_at);
        """
    )


def downgrade() -> None:
    execute_script("ALTER TABLE held_samples DROP COLUMN held_at")  # its index goes with it
