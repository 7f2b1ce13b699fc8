"""Samples held for a release ingest never hears, through the real service: dead-lettered past the
retention by its background task, with the reason; fresher ones stay held."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from services.ingest.domain.held_samples import HELD_SAMPLES_CONSUMER
from tests.integration.ingest.conftest import AUTH, Harness, running_ingest
from tests.unit.ingest.builders import bound, sample, unique

GPU_KEYS_SQL = "SELECT count(*) FROM allocation_gpus WHERE gpu_uuid = $1"
HELD_SQL = "SELECT count(*) FROM held_samples WHERE sample_event_id = $1"
LETTERS_SQL = "SELECT count(*) FROM dead_letters WHERE consumer = $1 AND event_id = $2"


@pytest.fixture
async def ingest(nats_url: str, fresh_database: str) -> AsyncIterator[Harness]:
    # Rounds every 0.2 s, so the test sees one soon; an hour's retention keeps a just-held sample.
    async with running_ingest(
        nats_url, fresh_database, prune_interval_s=0.2, held_sample_retention_s=3600
    ) as harness:
        yield harness


async def test_a_sample_held_past_the_retention_is_dead_lettered_and_a_fresh_one_stays(
    ingest: Harness,
) -> None:
    now = datetime.now(UTC)
    gpu, allocation_id = unique("GPU"), unique("alloc")
    # Bound, and never released as far as ingest hears: samples past its end wait for the release.
    await ingest.publish(bound(now - timedelta(minutes=5), allocation_id=allocation_id, gpu_uuids=(gpu,)))
    assert await ingest.wait_count(GPU_KEYS_SQL, gpu, expected=1) == 1
    old, fresh = (sample(now - timedelta(seconds=s), gpu_uuid=gpu, allocation_ids=[]) for s in (20, 10))
    await ingest.publish(old)
    await ingest.publish(fresh)
    for held in (old, fresh):
        assert await ingest.wait_count(HELD_SQL, held.event_id, expected=1) == 1

    # As if held two hours ago: past the retention.
    await ingest.service.db.pool.execute(
        "UPDATE held_samples SET held_at = now() - interval '2 hours' WHERE sample_event_id = $1",
        old.event_id,
    )

    assert await ingest.wait_count(LETTERS_SQL, HELD_SAMPLES_CONSUMER, str(old.event_id), expected=1) == 1
    letter = await ingest.service.db.pool.fetchrow(
        "SELECT subject, reason, payload, headers FROM dead_letters WHERE event_id = $1", str(old.event_id)
    )
    assert letter["subject"] == old.subject()
    assert bytes(letter["payload"]) == old.model_dump_json().encode()
    assert letter["headers"]["ce-type"] == "agent.v1.usage.sampled"
    assert "longer than the held-sample retention (3600s)" in letter["reason"]
    assert f"release of allocation(s) {allocation_id}: ingest never heard" in letter["reason"]
    assert await ingest.count(HELD_SQL, old.event_id) == 0
    # Rounds later the fresh sample is still held, and nothing else was dead-lettered.
    await asyncio.sleep(1.0)
    assert await ingest.count(HELD_SQL, fresh.event_id) == 1
    assert await ingest.count("SELECT count(*) FROM dead_letters") == 1

    # The operator sees it where every dead letter shows.
    listed = (await ingest.http.get("/v1/dead-letters", headers=AUTH)).json()["dead_letters"]
    assert [(item["consumer"], item["event_id"]) for item in listed] == [
        (HELD_SAMPLES_CONSUMER, str(old.event_id))
    ]
