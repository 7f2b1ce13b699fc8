"""Fixtures of the scheduler's integration tests: a clean bus, and schedulers stopped at the end."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.integration.scheduler.harness import Bus, Schedulers, open_bus


@pytest.fixture
async def bus(nats_url: str) -> AsyncIterator[Bus]:
    bus = await open_bus(nats_url)
    yield bus
    await bus.nc.close()


@pytest.fixture
async def schedulers(nats_url: str, fresh_database: str, bus: Bus) -> AsyncIterator[Schedulers]:
    schedulers = Schedulers(nats_url, fresh_database)
    yield schedulers
    await schedulers.stop_all()
