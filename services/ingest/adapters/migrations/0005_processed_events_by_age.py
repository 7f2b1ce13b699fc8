"""Ingest's processed_events found by age, for its pruning (shared/messaging/retention.py).

Revision ID: 0005
"""

from shared.db.migrations import DROP_PROCESSED_EVENTS_BY_AGE_SQL, PROCESSED_EVENTS_BY_AGE_SQL, execute_script

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(PROCESSED_EVENTS_BY_AGE_SQL)


def downgrade() -> None:
    execute_script(DROP_PROCESSED_EVENTS_BY_AGE_SQL)
