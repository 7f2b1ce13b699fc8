"""The simulator driving the real policy engine: the same hand-computed figures as with the stand-in,
and the engine's time-driven choices (minimum runtime, attained service) happening on time."""

from __future__ import annotations

import pytest

from services.scheduler.domain.engine import PoolPolicy, decide
from services.scheduler.domain.engine.model import JobOutcome
from services.scheduler.domain.engine.placement import ClusterState
from sim.generator import TraceSpec, generate
from sim.policies import sim_config_for
from sim.simulator import Simulation
from sim.trace import NodeEvent, TraceJob, Workload, default_queues, uniform_nodes
from tests.unit.sim.builders import trace_job

STRICT_FIFO = PoolPolicy(queueing="fifo", placement="first_fit", preemption=False, backfill=False)


def simulate(jobs: list[TraceJob], nodes: int, gpus: int, policy: PoolPolicy, incremental=True, **config):
    workload = Workload(tuple(jobs), uniform_nodes(nodes, gpus))
    factory = ClusterState.from_snapshot if incremental else None
    sim = Simulation(workload, decide, policy, sim_config_for(policy, **config), cluster_factory=factory)
    result = sim.run()
    return result, {job.job_id: job for job in result.jobs}


def test_three_jobs_give_the_hand_computed_figures():
    result, jobs = simulate(
        [trace_job("A", 0, 2, 100), trace_job("B", 0, 1, 50), trace_job("C", 20, 1, 30)], 1, 2, STRICT_FIFO
    )
    assert [(jobs[j].first_start, jobs[j].end) for j in "ABC"] == [(0, 100), (100, 150), (100, 130)]
    s = result.summary
    assert (s["avg_jct_s"], s["p50_jct_s"], s["avg_queue_s"]) == pytest.approx((120, 110, 60))
    assert s["p99_jct_s"] == pytest.approx(110 + 0.98 * 40)
    assert (s["makespan_s"], s["allocation_ratio"]) == pytest.approx((150, 280 / 300))


@pytest.mark.parametrize(
    ("checkpointable", "resumed_end"), [(True, 760 + 30 + 400), (False, 760 + 30 + 1000)]
)
def test_preempted_job_resumes_from_its_checkpoint_or_from_scratch(checkpointable, resumed_end):
    policy = PoolPolicy(queueing="priority", preemption_grace_s=0, min_runtime_s=0)
    result, jobs = simulate(
        [trace_job("L", 0, 1, 1000, checkpointable=checkpointable), trace_job("H", 650, 1, 100, priority=1)],
        1,
        1,
        policy,
        restart_penalty_s=30,
        checkpoint_interval_s=300,
    )
    assert (jobs["H"].first_start, jobs["H"].end) == (660, 760)
    assert jobs["L"].end == pytest.approx(resumed_end)
    assert result.summary["preemptions"] == 1


def test_grace_period_from_the_policy_delays_the_preemptor():
    policy = PoolPolicy(queueing="priority", preemption_grace_s=20, min_runtime_s=0)
    _, jobs = simulate(
        [trace_job("L", 0, 1, 1000), trace_job("H", 650, 1, 100, priority=1)],
        1,
        1,
        policy,
        checkpoint_interval_s=300,
    )
    assert jobs["H"].first_start == 670


def test_minimum_runtime_expiry_wakes_the_scheduler():
    # H cannot preempt L before L has run 200 s; a cycle at 200 (not the idle recheck at 350) does it.
    policy = PoolPolicy(queueing="priority", preemption_grace_s=0, min_runtime_s=200)
    _, jobs = simulate([trace_job("L", 0, 1, 1000), trace_job("H", 50, 1, 100, priority=1)], 1, 1, policy)
    assert jobs["H"].first_start == 210


def test_least_attained_service_preempts_when_a_job_passes_a_threshold():
    # A passes 100 GPU-seconds at t=100 and drops a level below B, which then takes the GPU.
    policy = PoolPolicy(queueing="las", las_thresholds_gpu_s=(100.0,), preemption_grace_s=0, min_runtime_s=0)
    _, jobs = simulate([trace_job("A", 0, 1, 1000), trace_job("B", 50, 1, 100)], 1, 1, policy)
    assert jobs["B"].first_start == 110
    assert jobs["A"].preemptions == 1


def test_maximum_runtime_is_enforced_by_the_engine():
    result, jobs = simulate([trace_job("X", 0, 1, 500, max_runtime=120)], 1, 1, PoolPolicy())
    assert (jobs["X"].end, jobs["X"].outcome, result.summary["stopped"]) == (120, JobOutcome.FAILED, 1)


def test_fractional_jobs_share_a_gpu():
    result, jobs = simulate(
        [trace_job("F1", 0, 1, 100, milli=500), trace_job("F2", 0, 1, 100, milli=250)], 1, 1, PoolPolicy()
    )
    assert jobs["F1"].first_start == jobs["F2"].first_start == 0
    assert result.summary["allocation_ratio"] == pytest.approx(0.75)
    assert result.summary["gpu_utilization"] == pytest.approx(1.0)


def test_jobs_of_a_lost_node_restart_on_another():
    workload = Workload(
        (trace_job("A", 0, 8, 100, checkpointable=False),),
        uniform_nodes(2, 8),
        node_events=(NodeEvent(40, "node-0", "lost"),),
    )
    policy = PoolPolicy()
    sim = Simulation(
        workload, decide, policy, sim_config_for(policy), cluster_factory=ClusterState.from_snapshot
    )
    (job,) = sim.run().jobs
    assert job.requeues == 1 and job.end == pytest.approx(40 + 30 + 100)
    assert job.running is None


def test_keeping_the_engine_cluster_between_cycles_changes_nothing():
    jobs = list(generate(TraceSpec(jobs=60, cluster_gpus=32, max_replicas_gpus=16), seed=5))
    policy = PoolPolicy(queueing="priority", placement="best_fit")
    incremental, _ = simulate(jobs, 4, 8, policy, incremental=True)
    rebuilt, _ = simulate(jobs, 4, 8, policy, incremental=False)
    assert incremental.summary == rebuilt.summary
    assert incremental.summary["succeeded"] + incremental.summary["stopped"] == 60
    assert incremental.summary["preemptions"] > 0  # the state was exercised by releases too


@pytest.mark.parametrize("queueing", ["fifo", "priority", "drf", "las"])
def test_preemption_never_goes_round_in_circles(queueing):
    # An overloaded pool with three priority classes: under FIFO, jobs used to preempt older ones,
    # which took their GPUs straight back, hundreds of times each, and nothing finished.
    jobs = list(generate(TraceSpec(jobs=200, cluster_gpus=16, load=1.2, max_replicas_gpus=8), seed=5))
    result, _ = simulate(jobs, 2, 8, PoolPolicy(queueing=queueing), max_cycles=5000)
    assert result.summary["unfinished"] == 0
    assert sum(job.preemptions for job in result.jobs) < len(jobs)


def test_queues_default_to_one_per_project():
    jobs = (trace_job("a", 0, 1, 1, tenant="t1"), trace_job("b", 0, 1, 1, tenant="t2"))
    assert [(q.queue_id, q.tenant_id) for q in default_queues(jobs)] == [("t1-p", "t1"), ("t2-p", "t2")]
