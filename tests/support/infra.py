"""Pytest fixtures for a real nats-server and a real PostgreSQL, shared by integration and e2e tests.

PostgreSQL comes from AIFACTORY_TEST_DATABASE_URL when it is set, otherwise from pgserver.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from shared.infra.embedded import EmbeddedNats, EmbeddedPostgres, env_url, with_database


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNats]:
    server = EmbeddedNats(tmp_path_factory.mktemp("nats")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def nats_url(nats_server: EmbeddedNats) -> str:
    return nats_server.url


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    given = env_url("AIFACTORY_TEST_DATABASE_URL")
    if given:
        yield given
        return
    server = EmbeddedPostgres(Path(tmp_path_factory.mktemp("pg"))).start()
    yield server.url
    server.stop()


@pytest.fixture
async def fresh_database(postgres_url: str) -> AsyncIterator[str]:
    """A database of its own for one test, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(postgres_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield with_database(postgres_url, name)
    admin = await asyncpg.connect(postgres_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
