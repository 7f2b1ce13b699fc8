from datetime import timedelta, timezone
from decimal import Decimal

from services.ingest.domain.allocations import AllocationInterval
from services.ingest.domain.records import (
    ExternalUsage,
    external_record,
    record_batches,
    sample_record,
    sample_records,
)
from tests.unit.ingest.builders import T0, sample


def test_a_sample_on_an_allocated_gpu_is_attributed_to_its_job() -> None:
    holder = AllocationInterval(
        "GPU-1", "alloc-1", "acme", "vision", "job-1", "H100", T0 - timedelta(hours=1)
    )
    record = sample_record(sample(T0, energy_j=0.1), holder)
    assert (record.tenant_id, record.project_id, record.job_id) == ("acme", "vision", "job-1")
    assert record.source == "agent"
    assert record.window_start == T0 - timedelta(seconds=10) and record.window_end == T0
    assert record.energy_j == Decimal("0.1")
    assert (record.node_id, record.gpu_uuid, record.gpu_utilization_pct) == ("node-1", "GPU-1", 87.5)


def test_a_sample_on_an_idle_gpu_is_recorded_for_the_fleet() -> None:
    record = sample_record(sample(T0), None)
    assert (record.tenant_id, record.project_id, record.job_id) == ("_fleet", "_idle", None)
    assert record.energy_j == Decimal("5000.1")


def test_external_usage_is_recorded_with_its_source_and_id() -> None:
    usage = ExternalUsage("/gw", "e-9", T0, "acme", "vision", 2, 10, 20, model_name="m", job_id="job-7")
    record = external_record(usage)
    assert record.source == "external" and record.source_event_id == "/gw/e-9"
    assert (record.requests, record.input_tokens, record.output_tokens) == (2, 10, 20)
    assert record.window_start == record.window_end == T0
    assert (record.model_name, record.job_id, record.tenant_id) == ("m", "job-7", "acme")


def test_every_copy_of_a_sample_is_recorded_under_one_event_id() -> None:
    # An agent retrying under a new event id, or a redelivery after ingest crashed before commit, must
    # republish the same record id, which JetStream and metering then drop.
    first = sample_record(sample(T0), None)
    retried = sample_record(sample(T0.astimezone(timezone(timedelta(hours=2)))), None)
    assert retried.source_event_id != first.source_event_id
    assert retried.event_id == first.event_id


def test_samples_of_other_gpus_or_instants_get_other_record_ids() -> None:
    ids = {
        sample_record(sample(T0), None).event_id,
        sample_record(sample(T0, gpu_uuid="GPU-2"), None).event_id,
        sample_record(sample(T0, node_id="node-2"), None).event_id,
        sample_record(sample(T0 + timedelta(microseconds=1)), None).event_id,
    }
    assert len(ids) == 4


def test_records_travel_in_order_a_bounded_number_to_a_batch() -> None:
    records = [sample_record(sample(T0 + timedelta(seconds=i)), None) for i in range(5)]

    batches = record_batches(records, per_batch=2)

    assert [len(b.records) for b in batches] == [2, 2, 1]
    assert [r for b in batches for r in b.records] == records
    assert [b.occurred_at for b in batches] == [
        records[1].occurred_at,
        records[3].occurred_at,
        records[4].occurred_at,
    ]


def test_a_batch_id_follows_from_its_records_alone() -> None:
    records = [sample_record(sample(T0 + timedelta(seconds=i)), None) for i in range(3)]

    again = record_batches(records, per_batch=3)[0].event_id
    regrouped = record_batches(records, per_batch=2)[0].event_id

    assert record_batches(records, per_batch=3)[0].event_id == again  # a resend is a JetStream duplicate
    assert regrouped != again  # other records, another batch (metering dedupes the records themselves)


def test_a_sample_of_a_shared_gpu_is_split_by_share_and_its_energy_adds_up_exactly() -> None:
    usage = sample(T0, energy_j=1000.3)
    half = AllocationInterval(
        "GPU-1", "alloc-a", "acme", "p1", "job-a", "H100", T0 - timedelta(minutes=1), None, Decimal("0.5")
    )
    quarter = AllocationInterval(
        "GPU-1", "alloc-b", "globex", "p2", "job-b", "H100", T0 - timedelta(minutes=1), None, Decimal("0.25")
    )

    records = sample_records(
        usage, [(half, Decimal("0.5")), (quarter, Decimal("0.25")), (None, Decimal("0.25"))]
    )

    assert [(r.tenant_id, r.gpu_share, r.energy_j) for r in records] == [
        ("acme", Decimal("0.5"), Decimal("500.15")),
        ("globex", Decimal("0.25"), Decimal("250.075")),
        ("_fleet", Decimal("0.25"), Decimal("250.075")),
    ]
    assert sum(r.energy_j for r in records) == Decimal("1000.3")
    assert len({r.event_id for r in records}) == len({r.source_event_id for r in records}) == 3
    # Every copy of the sample splits into the same records.
    assert [
        r.event_id
        for r in sample_records(
            usage.model_copy(), [(half, Decimal("0.5")), (quarter, Decimal("0.25")), (None, Decimal("0.25"))]
        )
    ] == [r.event_id for r in records]


def test_a_sample_of_a_gpu_held_whole_keeps_the_record_it_always_had() -> None:
    usage = sample(T0)
    [record] = sample_records(usage, [(None, Decimal(1))])
    assert record == sample_record(usage, None)
    assert (record.gpu_share, record.source_event_id) == (Decimal(1), str(usage.event_id))
