"""The FGD placement-only experiment on tiny synthetic traces (and on the real trace when it is present)."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from services.scheduler.domain.engine.placement import PLACEMENT_POLICIES
from sim.placement_experiment import (
    gpu_capacity_milli,
    inflate_workload,
    run_placement_experiment,
)
from sim.traces import parse_alibaba_pods, parse_node_list
from tests.unit.scheduler.placement.builders import job, node

TRACE_ENV = "AIFACTORY_ALIBABA_TRACE"
SHARED_TRACE = Path(__file__).resolve().parents[4] / "shared" / "traces" / "alibaba-gpu-v2023"
POD_LIST = "openb_pod_list_default.csv"
NODE_LIST = "openb_node_list_all_node.csv"


def test_inflation_takes_the_shuffled_list_then_draws_until_130_percent() -> None:
    tasks = [job(f"t{i}", milli=500) for i in range(4)]  # 2,000 thousandths in all
    arrivals = inflate_workload(tasks, seed=7, capacity_milli=4000)
    demand = sum(t.gpu_demand_milli for t in arrivals)
    assert demand >= 1.3 * 4000 > demand - 500  # stops as soon as the target is reached
    assert sorted(t.job_id for t in arrivals[:4]) == ["t0", "t1", "t2", "t3"]
    assert all("~" in t.job_id for t in arrivals[4:])  # drawn copies get ids of their own
    assert len({t.job_id for t in arrivals}) == len(arrivals)
    assert [t.job_id for t in inflate_workload(tasks, 7, 4000)] == [t.job_id for t in arrivals]
    assert [t.job_id for t in inflate_workload(tasks, 8, 4000)] != [t.job_id for t in arrivals]


def test_inflation_needs_some_gpu_demand() -> None:
    with pytest.raises(ValueError, match="no task requests a GPU"):
        inflate_workload([job("cpu", gpus=0, cpu=1000)], seed=1, capacity_milli=1000)


@pytest.mark.parametrize("policy", list(PLACEMENT_POLICIES.values()), ids=lambda p: p.name)
def test_allocation_ratio_is_allocated_over_total_gpu_thousandths(policy) -> None:
    # Two 600 shares cannot share a GPU, so whatever the order, each of the 2 GPUs holds exactly one;
    # the CPU-only node adds no GPU capacity.
    nodes = [node("g", gpus=2, cpu=64000, mem=65536), node("c", gpus=0, model="", cpu=8000)]
    tasks = [job(f"t{i}", milli=600, cpu=1000) for i in range(3)]
    result = run_placement_experiment(nodes, tasks, policy, seed=42)
    assert result.capacity_milli == 2000
    assert result.arrived_milli >= 2600
    assert (result.placed, result.allocated_milli) == (2, 1200)
    assert result.failed == result.arrived - 2
    assert result.allocation_ratio == pytest.approx(0.6)


def test_cpu_and_memory_limit_what_the_experiment_allocates() -> None:
    nodes = [node("g", gpus=2, cpu=1500, mem=4096)]
    tasks = [job(f"t{i}", milli=600, cpu=1000) for i in range(3)]
    assert (
        run_placement_experiment(nodes, tasks, PLACEMENT_POLICIES["best_fit"], seed=1).allocated_milli == 600
    )
    tasks = [job(f"t{i}", milli=600, mem=3000) for i in range(3)]
    assert (
        run_placement_experiment(nodes, tasks, PLACEMENT_POLICIES["best_fit"], seed=1).allocated_milli == 600
    )


def _trace_folder(tmp_path: Path, source: str) -> Path:
    """The real trace when present (env var, then the shared copy), else synthetic files in its format."""
    for candidate in (os.environ.get(TRACE_ENV), SHARED_TRACE) if source == "trace" else ():
        if candidate and (Path(candidate) / POD_LIST).is_file() and (Path(candidate) / NODE_LIST).is_file():
            return Path(candidate)
    rng = random.Random(3)
    node_lines = ["sn,cpu_milli,memory_mib,gpu,model"]
    for i in range(60):
        gpus, model = rng.choice([(0, ""), (2, "T4"), (8, "G2"), (4, "V100M16")])
        node_lines.append(
            f"node-{i:04d},{rng.choice([32000, 96000])},{rng.choice([131072, 393216])},{gpus},{model}"
        )
    pod_lines = [
        "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time"
    ]
    for i in range(400):
        gpus = rng.choice([0, 1, 1, 1, 2, 8])
        milli = rng.choice([1000, 460, 810, 230]) if gpus == 1 else (1000 if gpus else 0)
        pod_lines.append(
            f"pod-{i:04d},{rng.choice([4000, 12000])},{rng.choice([8192, 32768])},{gpus},{milli},,LS,Running,{i},{i + 600},{i}"
        )
    (tmp_path / NODE_LIST).write_text("\n".join(node_lines) + "\n")
    (tmp_path / POD_LIST).write_text("\n".join(pod_lines) + "\n")
    return tmp_path


@pytest.mark.parametrize("source", ["trace", "synthetic"])
def test_experiment_on_a_trace_in_the_alibaba_format(tmp_path: Path, source: str) -> None:
    folder = _trace_folder(tmp_path, source)
    with (folder / NODE_LIST).open() as handle:
        all_nodes = parse_node_list(handle)
    with (folder / POD_LIST).open() as handle:
        tasks = [trace_job.request for trace_job in parse_alibaba_pods(handle)]
    # A slice of the cluster keeps the test fast on the full trace: 40 GPU nodes and 10 CPU-only ones.
    nodes = [n for n in all_nodes if n.gpu_count][:40] + [n for n in all_nodes if not n.gpu_count][:10]
    results = {
        name: run_placement_experiment(nodes, tasks, PLACEMENT_POLICIES[name], seed=42)
        for name in ("best_fit", "fgd")
    }
    for result in results.values():
        assert result.capacity_milli == gpu_capacity_milli(nodes) > 0
        assert result.arrived_milli >= 1.3 * result.capacity_milli
        assert 0.5 < result.allocation_ratio <= 1.0
        assert result.allocation_ratio == result.allocated_milli / result.capacity_milli
        assert result.placed + result.failed == result.arrived
    assert results["best_fit"] == run_placement_experiment(
        nodes, tasks, PLACEMENT_POLICIES["best_fit"], seed=42
    )
