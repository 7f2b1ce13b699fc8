"""Each project's maximum priority class (shared/events/priority_classes.py), set by the operator; NULL:
the default class.

Revision ID: 0004
"""

from shared.db.migrations import execute_script

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SQL = "ALTER TABLE projects ADD COLUMN max_priority_class text"


def upgrade() -> None:
    execute_script(SQL)


def downgrade() -> None:
    raise NotImplementedError("migrations are forward-only")
