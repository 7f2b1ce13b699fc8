"""Meters: what each allocation and usage record counts, and where in time it counts."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from services.agent.domain.energy import energy_between
from services.ingest.domain.records import sample_record
from services.metering.invoicing.app.rating import allocation_interval
from services.metering.usage.domain.readings import UsageMeter, allocation_readings, record_readings
from shared.events.agent import UsageSampled
from tests.unit.metering.usage.builders import T0, inference, released, sample


def by_meter(readings: list) -> dict[UsageMeter, Decimal]:  # type: ignore[type-arg]
    return {reading.meter: reading.value for reading in readings}


def test_an_allocation_counts_its_billable_gpu_seconds_at_its_release() -> None:
    (reading,) = allocation_readings(allocation_interval(released(90.2, gpu_count=4, gpu_model="A100")))
    # A started second counts, times the GPUs: the figure the invoice bills.
    assert (reading.meter, reading.gpu_model, reading.value, reading.at) == (
        UsageMeter.GPU_SECONDS,
        "A100",
        Decimal(91 * 4),
        T0,
    )


def test_an_empty_allocation_counts_nothing() -> None:
    assert allocation_readings(allocation_interval(released(0))) == []


def test_a_sample_counts_utilization_busy_gpu_seconds_and_energy() -> None:
    readings = record_readings(sample(utilization=33.3, energy_j="1234.5", window_s=60))

    assert by_meter(readings) == {
        UsageMeter.GPU_UTILIZATION: Decimal("33.3"),
        UsageMeter.GPU_UTIL_SECONDS: Decimal("19.98"),  # 33.3% of 60 s, exactly
        UsageMeter.ENERGY_J: Decimal("1234.5"),
    }
    assert {(r.gpu_model, r.at) for r in readings} == {("H100", T0)}


def test_a_busy_fraction_of_a_window_with_microseconds_is_exact() -> None:
    readings = record_readings(sample(utilization=50.0, window_s=10.000001))
    assert by_meter(readings)[UsageMeter.GPU_UTIL_SECONDS] == Decimal("5.0000005")


def test_an_idle_gpu_shows_zero_utilization_but_no_busy_seconds() -> None:
    readings = record_readings(sample(utilization=0.0, energy_j="0"))
    assert by_meter(readings) == {UsageMeter.GPU_UTILIZATION: Decimal(0)}


def test_inference_counts_requests_and_tokens_without_a_gpu_model() -> None:
    readings = record_readings(inference(requests=3, input_tokens=1200, output_tokens=80))

    assert by_meter(readings) == {
        UsageMeter.REQUESTS: Decimal(3),
        UsageMeter.INPUT_TOKENS: Decimal(1200),
        UsageMeter.OUTPUT_TOKENS: Decimal(80),
    }
    assert {r.gpu_model for r in readings} == {""}


def test_utilization_floats_count_as_written_whatever_the_cache() -> None:
    cache: dict[float, Decimal] = {}
    first = by_meter(record_readings(sample(utilization=0.1), cache))
    again = by_meter(record_readings(sample(utilization=0.1), cache))
    assert first == again
    assert first[UsageMeter.GPU_UTILIZATION] == Decimal("0.1")  # not 0.1000000000000000055...


def test_an_energy_counter_that_goes_backwards_never_becomes_negative_energy() -> None:
    # The agent's counter (millijoules) resets between two samples: it reports the energy since the
    # reset, ingest records it, and metering counts that, never a negative amount.
    counters = [5_000_000, 5_600_000, 120_000, 700_000]
    energies = [energy_between(before, after) for before, after in zip(counters, counters[1:], strict=False)]
    assert [e.counter_reset for e in energies] == [False, True, False]
    counted = []
    for index, energy in enumerate(energies):
        sampled = UsageSampled(
            occurred_at=T0 + timedelta(seconds=10 * index),
            node_id="node-1",
            gpu_uuid="GPU-1",
            gpu_model="H100",
            window_s=10,
            utilization_pct=90,
            memory_used_mib=1,
            power_w=400,
            energy_j=energy.joules,
            counter_reset=energy.counter_reset,
        )
        counted += [
            r.value for r in record_readings(sample_record(sampled, None)) if r.meter is UsageMeter.ENERGY_J
        ]
    assert counted == [Decimal(600), Decimal(120), Decimal(580)]
