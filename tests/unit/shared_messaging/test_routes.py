"""Routes and consumer declarations: subjects come from the events, a rejection is recognised."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.db.pool import Tx
from shared.events.agent import WorkloadExited, WorkloadStarted
from shared.events.gateway import JobCancelRequested, JobSubmitted, QuotaSet
from shared.events.ingest import UsageBatchRecorded, UsageRecorded
from shared.events.scheduler import JobStateChanged
from shared.messaging.routes import (
    PermanentError,
    Route,
    batch_route,
    covering_subject,
    find_route,
    parse_event,
)
from shared.messaging.specs import BatchConsumerSpec, ConsumerSpec, consumer
from shared.messaging.streams import AGENT, GATEWAY, INGEST


async def ignore(tx: Tx, event: object) -> None:
    return None


async def ignore_all(tx: Tx, events: list[object]) -> None:
    return None


class Refused(Exception):
    pass


@pytest.mark.parametrize(
    ("subjects", "covering"),
    [
        (["gateway.v1.quota.set"], "gateway.v1.quota.set"),
        (["gateway.v1.job.submitted", "gateway.v1.job.cancel_requested"], "gateway.v1.job.*"),
        (["agent.v1.*.workload.started", "agent.v1.*.workload.exited"], "agent.v1.*.workload.*"),
        (["gateway.v1.tenant.created", "gateway.v1.budget.set"], "gateway.v1.*.*"),
        (["metering.v1.invoice.updated", "metering.v1.usage.rated.x"], "metering.v1.*.>"),
    ],
)
def test_the_filter_subject_is_the_narrowest_that_covers_every_route(
    subjects: list[str], covering: str
) -> None:
    assert covering_subject(subjects) == covering


def test_a_consumer_listens_on_its_events_own_subjects_in_their_stream() -> None:
    spec = consumer(
        "scheduler-workloads", Route(WorkloadStarted, ignore), Route(WorkloadExited, ignore), max_deliveries=3
    )

    assert isinstance(spec, ConsumerSpec)
    assert (spec.subject, spec.stream, spec.max_deliveries) == ("agent.v1.*.workload.*", AGENT, 3)


def test_routes_from_two_streams_cannot_share_a_durable() -> None:
    with pytest.raises(ValueError, match="no stream"):
        consumer("mixed", Route(JobSubmitted, ignore), Route(JobStateChanged, ignore), max_deliveries=3)


def test_an_event_type_cannot_be_routed_twice_on_one_durable() -> None:
    with pytest.raises(ValueError, match="routed twice"):
        consumer("twice", Route(QuotaSet, ignore), Route(QuotaSet, ignore), max_deliveries=3)


def test_a_batch_route_makes_a_batch_consumer_that_falls_back_to_one_route_per_type() -> None:
    spec = consumer(
        "metering-usage", batch_route(UsageRecorded, UsageBatchRecorded, handler=ignore_all), max_deliveries=4
    )

    assert isinstance(spec, BatchConsumerSpec)
    assert (spec.subject, spec.stream_name, spec.batch_size) == ("ingest.v1.usage.*", INGEST.name, 500)
    single = spec.single()
    assert [route.event_type for route in single.routes] == [UsageRecorded, UsageBatchRecorded]
    assert (single.durable, single.max_deliveries, single.stream) == ("metering-usage", 4, INGEST)


def test_a_route_dead_letters_what_it_rejects_and_retries_anything_else() -> None:
    route = Route(QuotaSet, ignore, rejects=(Refused,))

    assert route.is_rejection(Refused("never"))
    assert route.is_rejection(PermanentError("never"))
    assert not route.is_rejection(RuntimeError("database hiccup"))


def test_a_message_finds_the_route_of_its_event_type() -> None:
    routes = (Route(JobSubmitted, ignore), Route(JobCancelRequested, ignore))

    assert find_route(routes, {"ce-type": JobCancelRequested.TYPE}) is routes[1]
    assert find_route(routes, {"ce-type": QuotaSet.TYPE}) is None
    with pytest.raises(ValueError, match="ce-type"):
        find_route(routes, {})


def test_a_malformed_body_is_refused_with_the_field_that_is_wrong() -> None:
    event = JobCancelRequested(occurred_at=datetime.now(UTC), tenant_id="t1", job_id="j1")

    assert parse_event((JobCancelRequested,), event.headers(), event.model_dump_json().encode()) == event
    with pytest.raises(ValueError, match="job_id"):
        parse_event((JobCancelRequested,), event.headers(), b'{"occurred_at": "2026-01-01T00:00:00Z"}')


def test_each_stream_is_found_from_its_subjects() -> None:
    assert consumer("q", Route(QuotaSet, ignore), max_deliveries=1).stream == GATEWAY
