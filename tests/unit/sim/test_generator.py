"""The synthetic trace generator: deterministic per seed, the promised mix, and the offered load."""

from __future__ import annotations

from collections import Counter

import pytest

from sim.csv_input import read_generic_trace
from sim.generator import TraceSpec, generate, write_csv

SPEC = TraceSpec(jobs=1000, cluster_gpus=512, tenants=5)


def test_same_seed_gives_the_same_trace_and_another_seed_another():
    assert generate(SPEC, seed=7) == generate(SPEC, seed=7)
    assert generate(SPEC, seed=7) != generate(SPEC, seed=8)


def test_trace_mixes_shapes_tenants_priorities_and_checkpointing():
    jobs = generate(SPEC, seed=1)
    shapes = Counter((j.request.replicas, j.request.gpus_per_replica) for j in jobs)
    assert {(1, 1), (1, 2), (1, 4), (1, 8), (2, 8), (4, 8)} <= set(shapes)
    assert any(j.request.gpu_milli < 1000 for j in jobs)
    assert len({j.request.tenant_id for j in jobs}) == 5
    assert {j.request.priority for j in jobs} == {0, 1, 2}
    assert 0.7 < sum(j.request.checkpointable for j in jobs) / len(jobs) < 0.9
    submits = [j.request.submitted_at for j in jobs]
    assert submits == sorted(submits)


def test_durations_are_heavy_tailed():
    durations = sorted(j.duration_s for j in generate(SPEC, seed=2))
    median, p99 = durations[len(durations) // 2], durations[int(len(durations) * 0.99)]
    assert p99 > 20 * median


def test_arrival_rate_offers_the_requested_load():
    jobs = generate(TraceSpec(jobs=3000, cluster_gpus=1000, load=0.5), seed=3)
    work = sum(j.request.gpu_demand_milli / 1000 * j.duration_s for j in jobs)
    span = jobs[-1].request.submitted_at - jobs[0].request.submitted_at
    assert work / (span * 1000) == pytest.approx(0.5, rel=0.1)


def test_written_trace_reads_back_identically(tmp_path):
    jobs = generate(TraceSpec(jobs=200, cluster_gpus=64, gpu_models=("A100", "H100")), seed=4)
    path = tmp_path / "trace.csv"
    write_csv(jobs, path)
    read_back, intervals = read_generic_trace(path)
    assert [(j.request, j.duration_s) for j in read_back] == [(j.request, j.duration_s) for j in jobs]
    assert intervals == {}
