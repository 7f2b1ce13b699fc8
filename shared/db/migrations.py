"""Schema migrations with Alembic: one schema and one version table per service.

Every service shares one Alembic environment (shared/db/alembic) and keeps its own revisions in
its migrations folder (services/<name>/adapters/migrations; metering: services/metering/migrations);
revisions are plain SQL through op.execute.
"""

from __future__ import annotations

import zlib
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import create_async_engine

ALEMBIC_ENV = Path(__file__).parent / "alembic"

MESSAGING_TABLES_SQL = """
CREATE TABLE outbox (
    id          bigserial PRIMARY KEY,
    event_id    uuid NOT NULL UNIQUE,
    subject     text NOT NULL,
    payload     bytea NOT NULL,
    headers     jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE processed_events (
    consumer     text NOT NULL,
    event_id     uuid NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
CREATE TABLE dead_letters (
    id          bigserial PRIMARY KEY,
    consumer    text NOT NULL,
    subject     text NOT NULL,
    event_id    text,
    reason      text NOT NULL,
    payload     bytea NOT NULL,
    headers     jsonb NOT NULL DEFAULT '{}',
    failed_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dead_letters_failed_at ON dead_letters (failed_at);
"""


# processed_events is pruned by age (shared/messaging/retention.py): without this index each round reads
# the whole table. Each service adds it in a migration of its own (the table lives in every schema).
PROCESSED_EVENTS_BY_AGE_SQL = (
    "CREATE INDEX IF NOT EXISTS processed_events_by_age ON processed_events (processed_at)"
)
DROP_PROCESSED_EVENTS_BY_AGE_SQL = "DROP INDEX IF EXISTS processed_events_by_age"


def execute_script(sql: str) -> None:
    """Run several SQL statements from a revision (the asyncpg driver takes one statement at a time)."""
    from alembic import op

    for statement in sql.split(";\n"):
        if statement.strip():
            op.execute(statement)


def sqlalchemy_url(database_url: str) -> str:
    scheme, rest = database_url.split("://", 1)
    if scheme not in ("postgres", "postgresql"):
        raise ValueError(f"unsupported database URL scheme {scheme!r}: expected postgresql://")
    return "postgresql+asyncpg://" + rest


async def migrate(database_url: str, schema: str, versions_dir: Path) -> None:
    """Bring `schema` to the newest revision in `versions_dir`; safe when several replicas start at once."""
    engine = create_async_engine(sqlalchemy_url(database_url))
    try:
        async with engine.begin() as conn:
            # Replicas starting together would race on the version table: one migrates, the others wait.
            await conn.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": zlib.crc32(schema.encode())}
            )
            await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            await conn.run_sync(_upgrade, schema, versions_dir)
    finally:
        await engine.dispose()


def _upgrade(connection: Connection, schema: str, versions_dir: Path) -> None:
    config = Config()
    config.set_main_option("script_location", str(ALEMBIC_ENV))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", str(versions_dir))
    config.attributes["connection"] = connection
    config.attributes["schema"] = schema
    command.upgrade(config, "head")
