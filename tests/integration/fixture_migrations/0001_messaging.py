"""Messaging tables and one effect table, for the messaging tests.

Revision ID: 0001
"""

from alembic import op

from shared.db.migrations import MESSAGING_TABLES_SQL, execute_script

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(MESSAGING_TABLES_SQL)
    op.execute("CREATE TABLE effects (event_id uuid PRIMARY KEY, note text NOT NULL)")
