"""The Alembic environment every service shares; the connection and schema come from migrate()."""

from alembic import context
from sqlalchemy import text

config = context.config
connection = config.attributes["connection"]
schema = config.attributes["schema"]

connection.execute(text(f'SET search_path TO "{schema}"'))
context.configure(connection=connection, version_table_schema=schema, target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
