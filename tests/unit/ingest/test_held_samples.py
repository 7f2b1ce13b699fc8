"""Samples held for a release ingest never hears: batched holds, and dead-lettering past the retention."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from pydantic import ValidationError

from services.ingest.app.bus import RecordSamples, record_bound
from services.ingest.app.maintenance import expire_held_samples_once
from services.ingest.domain.held_samples import (
    HELD_SAMPLES_CONSUMER,
    ExpiredHold,
    dead_letter_of,
    held_before,
)
from services.ingest.domain.time_window import TimeLimits
from services.ingest.settings import DAY_S, IngestSettings
from shared.clock import ManualClock
from tests.unit.ingest.builders import T0, bound, sample
from tests.unit.ingest.fakes import FakeState, FakeUnitOfWork

RETENTION_S = 3600.0


def test_a_sample_held_longer_than_the_retention_was_held_before_the_cut() -> None:
    assert held_before(T0, RETENTION_S) == T0 - timedelta(hours=1)


def test_the_dead_letter_is_the_samples_own_message_with_the_reason() -> None:
    held = sample(T0)
    hold = ExpiredHold(held.event_id, held.model_dump_json(), ["alloc-1", "alloc-2"], T0)

    letter = dead_letter_of(hold, RETENTION_S)

    assert letter.subject == "agent.v1.node-1.usage.sampled"
    assert letter.payload == held.model_dump_json().encode()
    assert letter.headers == held.headers()
    assert letter.reason == (
        f"sample held since {T0.isoformat()}, longer than the held-sample retention (3600s), waiting for "
        "the release of allocation(s) alloc-1, alloc-2: ingest never heard them released (or bound)"
    )


def test_a_held_body_that_no_longer_parses_is_dead_lettered_as_it_was() -> None:
    event_id = uuid.uuid4()
    letter = dead_letter_of(ExpiredHold(event_id, '{"node_id": 1}', ["alloc-1"], T0), RETENTION_S)
    assert (letter.subject, letter.payload) == ("agent.v1.*.usage.sampled", b'{"node_id": 1}')
    assert letter.headers["ce-id"] == str(event_id)
    assert "alloc-1" in letter.reason


async def test_a_batch_holds_its_samples_in_one_statement() -> None:
    state = FakeState(now=T0)
    async with FakeUnitOfWork(state)() as store:
        await record_bound(store, bound(T0 - timedelta(minutes=5)))
        record_samples = RecordSamples(ManualClock(T0), TimeLimits(max_future_skew_s=300, max_age_s=86_400))
        late = [sample(T0 + timedelta(seconds=i), allocation_ids=[]) for i in range(3)]
        outcome = await record_samples(store, late)
    assert outcome.recorded == []
    assert sorted(state.held) == sorted((s.event_id, "alloc-1") for s in late)
    assert state.hold_calls == 1


async def test_old_held_samples_are_dead_lettered_and_fresh_ones_stay() -> None:
    state = FakeState(now=T0)
    unit_of_work = FakeUnitOfWork(state)
    old, older, fresh = sample(T0), sample(T0, gpu_uuid="GPU-2"), sample(T0, gpu_uuid="GPU-3")
    async with unit_of_work() as store:
        await store.hold_samples([(older, ["alloc-1", "alloc-2"])])
        state.now = T0 + timedelta(minutes=1)
        await store.hold_samples([(old, ["alloc-1"])])
        state.now = T0 + timedelta(hours=1)
        await store.hold_samples([(fresh, ["alloc-1"])])
    clock = ManualClock(T0 + timedelta(hours=1, minutes=2))  # the cut: T0 + 2 min

    # A batch of one still takes every expired sample, each in its own transaction.
    assert await expire_held_samples_once(unit_of_work, clock, RETENTION_S, batch=1) == 2

    assert list(state.held) == [(fresh.event_id, "alloc-1")]
    assert [(d.consumer, d.payload) for d in state.dead_letters] == [
        (HELD_SAMPLES_CONSUMER, older.model_dump_json().encode()),
        (HELD_SAMPLES_CONSUMER, old.model_dump_json().encode()),
    ]
    assert "allocation(s) alloc-1, alloc-2:" in state.dead_letters[0].reason
    assert unit_of_work.commits == 4  # the holds, two batches of one, the empty batch that ends it


async def test_a_failed_dead_letter_keeps_the_sample_held() -> None:
    state = FakeState(now=T0)
    unit_of_work = FakeUnitOfWork(state)
    async with unit_of_work() as store:
        await store.hold_samples([(sample(T0), ["alloc-1"])])

    async def refuse(*_: object) -> None:
        raise RuntimeError("database gone")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("tests.unit.ingest.fakes.FakeIngestStore.dead_letter", refuse)
        with pytest.raises(RuntimeError):
            await expire_held_samples_once(unit_of_work, ManualClock(T0 + timedelta(days=1)), RETENTION_S)
    assert len(state.held) == 1 and state.dead_letters == []


def test_the_retention_defaults_to_a_week_and_must_be_positive() -> None:
    token = {"ingest_token": "unit-test-ingest-token-0123456789"}
    assert IngestSettings(**token).held_sample_retention_s == 7 * DAY_S  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="held_sample_retention_s"):
        IngestSettings(**token, held_sample_retention_s=0)  # type: ignore[arg-type]
