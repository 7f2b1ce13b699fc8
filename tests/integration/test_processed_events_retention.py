"""processed_events rows older than any redelivery are pruned by the service host; recent ones stay."""

from __future__ import annotations

import asyncio
import math
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from shared.messaging.retention import prune_before, redelivery_horizon_s
from shared.messaging.streams import DAY_S, METERING
from shared.service import ServiceHost
from shared.settings import PlatformSettings

MIGRATIONS = Path(__file__).parent / "fixture_migrations"
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def test_rows_are_kept_for_the_longer_of_the_setting_and_the_horizon() -> None:
    assert prune_before(NOW, 100 * DAY_S, 91 * DAY_S) == NOW - timedelta(days=100)
    # A setting shorter than what the streams can still redeliver is overruled.
    assert prune_before(NOW, 60, 91 * DAY_S) == NOW - timedelta(days=91)
    assert prune_before(NOW, 100 * DAY_S, math.inf) is None


async def test_the_service_host_prunes_old_processed_events_and_keeps_recent_ones(
    nats_url: str, fresh_database: str
) -> None:
    settings = PlatformSettings(
        nats_url=nats_url,
        database_url=fresh_database,
        processed_events_retention_s=1,  # below the horizon: the horizon wins
        processed_events_prune_interval_s=0.05,
    )
    host = ServiceHost("retention-test", settings, schema="retention_test", migrations=MIGRATIONS)
    await host.start()
    try:
        horizon_s = await redelivery_horizon_s(host.js)
        assert horizon_s >= METERING.max_age_s + METERING.duplicate_window_s
        now = datetime.now(UTC)
        ages = {"ancient": 400, "just past the horizon": horizon_s / DAY_S + 1, "recent": 1, "now": 0}
        ids = {name: uuid.uuid4() for name in ages}
        await host.db.pool.executemany(
            "INSERT INTO processed_events (consumer, event_id, processed_at) VALUES ('c', $1, $2)",
            [(ids[name], now - timedelta(days=days)) for name, days in ages.items()],
        )
        for _ in range(200):
            if await host.db.pool.fetchval("SELECT count(*) FROM processed_events") == 2:
                break
            await asyncio.sleep(0.05)
        kept = {row["event_id"] for row in await host.db.fetch("SELECT event_id FROM processed_events")}
        assert kept == {ids["recent"], ids["now"]}
    finally:
        await host.stop()
