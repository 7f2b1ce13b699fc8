"""Idle GPU time is metered (readings.py rule 1): an agent's sample of a GPU no allocation held
(tenant "_fleet") reads its window as gpu_seconds, the fleet's idle capacity; a tenant's sample does not
(its GPU-seconds come from its allocation, billed at release)."""

from __future__ import annotations

from decimal import Decimal

from services.metering.usage.domain.readings import Reading, UsageMeter, record_readings
from tests.unit.metering.usage.builders import T0, inference, sample


def gpu_seconds(readings: list[Reading]) -> list[tuple[str, str, Decimal]]:
    return [(r.tenant_id, r.gpu_model, r.value) for r in readings if r.meter is UsageMeter.GPU_SECONDS]


def test_an_idle_gpus_sample_window_is_idle_gpu_seconds_of_its_model() -> None:
    idle = record_readings(
        sample(tenant_id="_fleet", project_id="_idle", gpu_model="A100", window_s=10.000001)
    )

    assert gpu_seconds(idle) == [("_fleet", "A100", Decimal("10.000001"))]
    assert {r.at for r in idle} == {T0}  # at the window's end, like every reading of the sample


def test_a_tenants_sample_and_an_empty_or_modelless_window_read_no_gpu_seconds() -> None:
    assert gpu_seconds(record_readings(sample(tenant_id="acme", window_s=60))) == []
    assert gpu_seconds(record_readings(sample(tenant_id="_fleet", window_s=0))) == []
    assert gpu_seconds(record_readings(sample(tenant_id="_fleet", gpu_model=""))) == []
    assert gpu_seconds(record_readings(inference(tenant_id="_fleet", requests=1))) == []


def test_a_share_of_a_shared_gpu_reads_its_share_of_the_window() -> None:
    # ingest split a 60 s sample of a GPU half held by acme: acme's half busy at 50%, the other half idle
    held = record_readings(sample(tenant_id="acme", utilization=50.0, window_s=60, gpu_share=Decimal("0.5")))
    idle = record_readings(
        sample(
            tenant_id="_fleet", project_id="_idle", utilization=50.0, window_s=60, gpu_share=Decimal("0.5")
        )
    )

    busy = [r.value for r in held if r.meter is UsageMeter.GPU_UTIL_SECONDS]
    assert busy == [Decimal("15")]  # 50% of 30 GPU-seconds, not of 60
    assert gpu_seconds(idle) == [("_fleet", "H100", Decimal("30"))]
    assert [r.value for r in held if r.meter is UsageMeter.GPU_UTILIZATION] == [Decimal("50.0")]
