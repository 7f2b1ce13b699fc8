"""The simulated GPUs: deterministic, plausible, and an energy counter that only grows."""

from __future__ import annotations

import pytest

from services.agent.gpu.backend import GpuQueryError
from services.agent.gpu.simulated import SimulatedBackend


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def backend(time: FakeTime, seed: int = 1, count: int = 2) -> SimulatedBackend:
    return SimulatedBackend(count, "A100", seed, node_id="n1", time_source=time)


def test_gpus_have_deterministic_uuid_like_names_and_the_model() -> None:
    gpus = backend(FakeTime(), count=3).discover()
    assert [gpu.uuid for gpu in gpus] == ["GPU-sim-n1-0", "GPU-sim-n1-1", "GPU-sim-n1-2"]
    assert [gpu.index for gpu in gpus] == [0, 1, 2]
    assert {(gpu.model, gpu.memory_mib, gpu.mig_mode) for gpu in gpus} == {("A100", 81_920, False)}


def test_the_same_seed_gives_the_same_readings() -> None:
    first, second = FakeTime(), FakeTime()
    a, b = backend(first, seed=7), backend(second, seed=7)
    for _ in range(20):
        first.now += 1
        second.now += 1
        assert a.sample("GPU-sim-n1-0") == b.sample("GPU-sim-n1-0")


def test_energy_counter_grows_with_time_and_never_goes_back() -> None:
    time = FakeTime()
    gpus = backend(time)
    gpus.set_busy(frozenset({"GPU-sim-n1-0"}))
    counters = []
    for step in range(200):
        time.now += 0.5 if step % 3 else 0.0  # some samples without time passing
        reading = gpus.sample("GPU-sim-n1-0")
        assert reading.energy_mj is not None
        counters.append(reading.energy_mj)
    assert counters == sorted(counters)
    # 100 s between idle 60 W and TDP 400 W: between 6 kJ and 40 kJ.
    assert 6_000_000 <= counters[-1] - counters[0] <= 40_000_000


def test_a_busy_gpu_works_harder_than_an_idle_one() -> None:
    time = FakeTime()
    gpus = backend(time)
    gpus.set_busy(frozenset({"GPU-sim-n1-0"}))
    busy, idle = [], []
    for _ in range(50):
        time.now += 1
        busy.append(gpus.sample("GPU-sim-n1-0"))
        idle.append(gpus.sample("GPU-sim-n1-1"))
    settled = slice(10, None)
    assert min(r.utilization_pct for r in busy[settled]) > max(r.utilization_pct for r in idle[settled])
    assert min(r.power_w for r in busy[settled]) > max(r.power_w for r in idle[settled])
    assert min(r.memory_used_mib for r in busy[settled]) > max(r.memory_used_mib for r in idle[settled])
    for reading in busy + idle:
        assert 0 <= reading.utilization_pct <= 100
        assert 60.0 <= reading.power_w <= 400.0
        assert 0 <= reading.memory_used_mib <= 81_920


def test_an_unhealthy_gpu_fails_its_queries_until_it_recovers() -> None:
    gpus = backend(FakeTime())
    gpus.mark_unhealthy("GPU-sim-n1-1", "Xid 48")
    with pytest.raises(GpuQueryError, match="Xid 48"):
        gpus.sample("GPU-sim-n1-1")
    gpus.sample("GPU-sim-n1-0")  # the others are unaffected
    gpus.mark_healthy("GPU-sim-n1-1")
    gpus.sample("GPU-sim-n1-1")


def test_an_unknown_gpu_is_a_query_error() -> None:
    with pytest.raises(GpuQueryError, match="GPU-nope"):
        backend(FakeTime()).sample("GPU-nope")


def test_a_reset_counter_starts_again_from_zero() -> None:
    time = FakeTime()
    gpus = backend(time)
    time.now += 100
    before = gpus.sample("GPU-sim-n1-0").energy_mj
    gpus.reset_energy_counter("GPU-sim-n1-0")
    time.now += 1
    after = gpus.sample("GPU-sim-n1-0").energy_mj
    assert before is not None and after is not None
    assert after < before
    assert 0 < after <= 400 * 1000  # one second at most at TDP, in mJ
