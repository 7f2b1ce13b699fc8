"""Usage samples from GPU readings: windows, energy deltas, counter resets, health changes."""

from __future__ import annotations

import pytest

from services.agent.app.sampler import UsageSampler
from services.agent.gpu.backend import GpuQueryError, GpuReading
from shared.clock import ManualClock
from shared.events.agent import GpuInfo, HealthChanged, UsageSampled
from tests.unit.agent.fakes import FakeMonotonic, RecordingPublisher

GPU = GpuInfo(uuid="GPU-x", index=0, model="A100", memory_mib=81_920)


class ScriptedBackend:
    """Hands out the readings (or errors) it was given, in order."""

    name = "scripted"

    def __init__(self, *readings: GpuReading | str) -> None:
        self.readings = list(readings)

    def discover(self) -> list[GpuInfo]:
        return [GPU]

    def sample(self, uuid: str) -> GpuReading:
        reading = self.readings.pop(0)
        if isinstance(reading, str):
            raise GpuQueryError(reading)
        return reading

    def set_busy(self, uuids: frozenset[str]) -> None: ...

    def close(self) -> None: ...


def reading(energy_mj: int | None, power_w: float = 100.0) -> GpuReading:
    return GpuReading(utilization_pct=50.0, memory_used_mib=1024, power_w=power_w, energy_mj=energy_mj)


async def run(backend: ScriptedBackend, steps: int, window_s: float = 5.0) -> RecordingPublisher:
    publisher, time = RecordingPublisher(), FakeMonotonic()
    sampler = UsageSampler("n1", [GPU], backend, publisher, ManualClock(), monotonic=time)
    for _ in range(steps):
        await sampler.sample_once()
        time.now += window_s
    return publisher


async def test_the_first_reading_is_a_baseline_then_each_sample_is_the_counter_delta() -> None:
    publisher = await run(ScriptedBackend(reading(10_000), reading(510_000), reading(1_510_000)), 3)

    samples = publisher.of(UsageSampled)
    assert [(s.energy_j, s.window_s, s.counter_reset) for s in samples] == [
        (500.0, 5.0, False),
        (1000.0, 5.0, False),
    ]
    assert samples[0].gpu_model == "A100" and samples[0].node_id == "n1"


async def test_a_counter_that_went_backwards_is_reported_as_a_reset() -> None:
    publisher = await run(ScriptedBackend(reading(9_000_000), reading(2_000)), 2)

    [sample] = publisher.of(UsageSampled)
    assert sample.counter_reset and sample.energy_j == pytest.approx(2.0)


async def test_without_an_energy_counter_the_energy_is_estimated_from_power() -> None:
    publisher = await run(ScriptedBackend(reading(None), reading(None, power_w=300.0)), 2, window_s=2.0)

    [sample] = publisher.of(UsageSampled)
    assert sample.energy_j == pytest.approx(600.0) and not sample.counter_reset


async def test_health_is_reported_on_each_change_only() -> None:
    publisher = await run(
        ScriptedBackend(reading(0), "Unknown Error", "Unknown Error", reading(1_000_000), reading(2_000_000)),
        5,
    )

    changes = [(e.healthy, e.reason) for e in publisher.of(HealthChanged)]
    assert changes == [(False, "Unknown Error"), (True, "answers queries again")]
    # The sample after recovery covers the whole window since the last good reading.
    windows = [(s.window_s, s.energy_j) for s in publisher.of(UsageSampled)]
    assert windows == [(15.0, 1000.0), (5.0, 1000.0)]


async def test_a_sample_lists_the_allocations_running_on_its_gpu() -> None:
    publisher, time = RecordingPublisher(), FakeMonotonic()
    running = {"GPU-x": ["alloc-1"]}
    sampler = UsageSampler(
        "n1", [GPU], ScriptedBackend(reading(0), reading(500)), publisher, ManualClock(),
        running_on=lambda uuid: running.get(uuid, []), monotonic=time,
    )  # fmt: skip
    await sampler.sample_once()
    time.now += 5.0
    await sampler.sample_once()

    [usage] = [e for e in publisher.events if isinstance(e, UsageSampled)]
    assert usage.allocation_ids == ["alloc-1"]
