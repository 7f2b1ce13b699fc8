"""External usage over the in-memory store: accepted, deduplicated, refused into dead letters."""

import json
from datetime import timedelta

import pytest

from services.ingest.app.external import HTTP_CONSUMER, ExternalUsageIngest
from services.ingest.app.maintenance import prune_once
from services.ingest.domain.errors import InvalidEvent, MalformedBody, UnknownProject, UnknownTenant
from services.ingest.domain.time_window import TimeLimits
from shared.clock import ManualClock
from tests.unit.ingest.builders import T0, cloud_event
from tests.unit.ingest.fakes import FakeState, FakeUnitOfWork

HEADERS = {"content-type": "application/cloudevents+json"}
LIMITS = TimeLimits(max_future_skew_s=300, max_age_s=86_400)


@pytest.fixture
def state() -> FakeState:
    state = FakeState(now=T0)
    state.tenants.update({"acme", "globex"})
    state.projects.update({("acme", "vision"), ("globex", "ads")})
    return state


@pytest.fixture
def ingest(state: FakeState) -> ExternalUsageIngest:
    return ExternalUsageIngest(FakeUnitOfWork(state), ManualClock(T0), LIMITS)


def body(value: object) -> bytes:
    return json.dumps(value).encode()


async def test_a_valid_event_is_recorded(ingest: ExternalUsageIngest, state: FakeState) -> None:
    result = await ingest.ingest_event(body(cloud_event(event_id="e-1")), HEADERS)
    assert (result.accepted, result.duplicates, result.rejected) == (1, 0, [])
    [record] = state.emitted
    assert record.source_event_id == "/inference/gw-1/e-1" and record.tenant_id == "acme"


async def test_a_repeated_event_is_accepted_but_recorded_once(
    ingest: ExternalUsageIngest, state: FakeState
) -> None:
    await ingest.ingest_event(body(cloud_event(event_id="e-1")), HEADERS)
    again = await ingest.ingest_event(body(cloud_event(event_id="e-1", requests=99)), HEADERS)
    assert (again.accepted, again.duplicates) == (1, 1)
    assert len(state.emitted) == 1
    # Another source may reuse the id: (source, id) is the key.
    await ingest.ingest_event(body(cloud_event(event_id="e-1", source="/other")), HEADERS)
    assert len(state.emitted) == 2


async def test_an_unknown_tenant_is_refused_by_name_and_dead_lettered(
    ingest: ExternalUsageIngest, state: FakeState
) -> None:
    raw = body(cloud_event(event_id="e-2", tenant_id="initech"))
    with pytest.raises(UnknownTenant, match="unknown tenant 'initech'"):
        await ingest.ingest_event(raw, HEADERS)
    [letter] = state.dead_letters
    assert letter.consumer == HTTP_CONSUMER and letter.payload == raw
    assert letter.reason == "unknown_tenant: unknown tenant 'initech'"
    assert letter.headers["ce-id"] == "e-2" and letter.headers["content-type"] == HEADERS["content-type"]
    assert state.emitted == [] and state.external_keys == {}


async def test_another_tenants_project_is_unknown(ingest: ExternalUsageIngest, state: FakeState) -> None:
    with pytest.raises(UnknownProject, match="unknown project 'ads' for tenant 'acme'"):
        await ingest.ingest_event(body(cloud_event(project_id="ads")), HEADERS)
    assert state.emitted == []


async def test_an_invalid_event_is_dead_lettered_with_every_problem(
    ingest: ExternalUsageIngest, state: FakeState
) -> None:
    with pytest.raises(InvalidEvent) as caught:
        await ingest.ingest_event(body(cloud_event(requests=-5, output_tokens=None)), HEADERS)
    assert caught.value.problems == [
        "data.requests: must be an integer >= 0, got -5",
        "data.output_tokens: required (an integer >= 0)",
    ]
    assert "data.requests: must be an integer >= 0, got -5" in state.dead_letters[0].reason


async def test_malformed_json_is_dead_lettered_raw(ingest: ExternalUsageIngest, state: FakeState) -> None:
    with pytest.raises(MalformedBody):
        await ingest.ingest_event(b"{oops", HEADERS)
    assert state.dead_letters[0].payload == b"{oops"
    assert state.dead_letters[0].reason.startswith("malformed_body: malformed JSON")


async def test_a_batch_records_the_valid_events_and_reports_the_others_by_index(
    ingest: ExternalUsageIngest, state: FakeState
) -> None:
    items = [
        cloud_event(event_id="b-0"),
        cloud_event(event_id="b-1", tenant_id="nobody"),
        cloud_event(event_id="b-2", project_id="ads", tenant_id="globex"),
        "not an event",
        cloud_event(event_id="b-0"),  # a repeat inside the same batch
    ]
    result = await ingest.ingest_batch(body(items), {"content-type": "application/cloudevents-batch+json"})
    assert (result.accepted, result.duplicates) == (3, 1)
    assert [(r.index, r.code) for r in result.rejected] == [(1, "unknown_tenant"), (3, "invalid_event")]
    assert sorted(r.source_event_id for r in state.emitted) == ["/inference/gw-1/b-0", "/inference/gw-1/b-2"]
    assert [json.loads(d.payload) for d in state.dead_letters] == [items[1], items[3]]
    assert state.dead_letters[0].reason == "batch index 1: unknown_tenant: unknown tenant 'nobody'"
    assert state.dead_letters[0].headers["batch-index"] == "1"


async def test_a_batch_that_is_not_an_array_is_refused_whole(
    ingest: ExternalUsageIngest, state: FakeState
) -> None:
    with pytest.raises(MalformedBody, match="got object"):
        await ingest.ingest_batch(body(cloud_event()), HEADERS)
    assert len(state.dead_letters) == 1 and state.emitted == []


async def test_a_request_refused_before_parsing_is_dead_lettered(
    ingest: ExternalUsageIngest, state: FakeState
) -> None:
    await ingest.reject_request(b"abc", {"content-type": "text/plain"}, "unsupported_media_type: ...")
    assert state.dead_letters[0].payload == b"abc" and state.dead_letters[0].headers == {
        "content-type": "text/plain"
    }


async def test_pruning_forgets_keys_older_than_any_acceptable_usage(state: FakeState) -> None:
    clock = ManualClock(T0)
    ingest = ExternalUsageIngest(FakeUnitOfWork(state), clock, LIMITS)
    await ingest.ingest_event(body(cloud_event(T0 - timedelta(hours=1), event_id="old")), HEADERS)
    await ingest.ingest_event(body(cloud_event(T0, event_id="new")), HEADERS)
    clock.advance(86_400 + 300 - 60)  # "old" is now beyond the age limit plus the skew margin
    assert await prune_once(FakeUnitOfWork(state), clock, LIMITS) == 1
    assert list(state.external_keys) == [("/inference/gw-1", "new")]
