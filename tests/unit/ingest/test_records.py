from datetime import timedelta, timezone
from decimal import Decimal

from services.ingest.domain.allocations import AllocationInterval
from services.ingest.domain.records import ExternalUsage, external_record, sample_record
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
