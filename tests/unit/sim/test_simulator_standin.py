"""The simulator's bookkeeping and arithmetic, driven by a stand-in decide() with obvious choices."""

from __future__ import annotations

import pytest

from services.scheduler.domain.engine.model import (
    Decisions,
    JobOutcome,
    Place,
    ReplicaPlacement,
    Snapshot,
)
from sim.cluster import PlacementRejected
from sim.config import SimConfig
from sim.simulator import Simulation, SimulationError
from sim.trace import NodeEvent, TraceJob, Workload, uniform_nodes
from tests.unit.sim.builders import trace_job
from tests.unit.sim.standin import StandIn


def simulate(jobs: list[TraceJob], nodes: int, gpus: int, decide=None, **config):
    workload = Workload(tuple(jobs), uniform_nodes(nodes, gpus))
    config.setdefault("interval_s", 10.0)
    sim = Simulation(workload, decide or StandIn(), policy=None, config=SimConfig(**config))
    return sim.run()


def by_id(result):
    return {job.job_id: job for job in result.jobs}


def test_three_jobs_give_the_hand_computed_completion_and_queueing_times():
    # One node of 2 GPUs. A takes both for 100 s; B (1 GPU) waits behind it; C arrives at 20 and waits
    # behind B (strict FIFO). At 100 both start: C ends at 130, B at 150.
    result = simulate(
        [trace_job("A", 0, 2, 100), trace_job("B", 0, 1, 50), trace_job("C", 20, 1, 30)], nodes=1, gpus=2
    )
    jobs, s = by_id(result), result.summary
    assert [(jobs[j].first_start, jobs[j].end) for j in "ABC"] == [(0, 100), (100, 150), (100, 130)]
    assert s["jobs"] == 3 and s["succeeded"] == 3
    assert s["avg_jct_s"] == pytest.approx((100 + 150 + 110) / 3)
    assert s["p50_jct_s"] == pytest.approx(110)
    assert s["p95_jct_s"] == pytest.approx(110 + 0.9 * 40)  # linear between ranks 1 and 2
    assert s["p99_jct_s"] == pytest.approx(110 + 0.98 * 40)
    assert s["avg_queue_s"] == pytest.approx((0 + 100 + 80) / 3)
    assert s["makespan_s"] == pytest.approx(150)
    # GPU-seconds: 2x100 + 2x30 + 1x20 = 280 of 2x150 = 300.
    assert s["allocation_ratio"] == pytest.approx(280 / 300)
    assert s["gpu_utilization"] == pytest.approx(280 / 300)
    assert s["preemptions"] == 0


def test_arrivals_wait_for_the_next_cycle_of_the_scheduling_interval():
    # A cycle ran at 0; B arrives at 3 and is placed at the next cycle, 10.
    result = simulate([trace_job("A", 0, 1, 100), trace_job("B", 3, 1, 10)], nodes=1, gpus=2)
    assert by_id(result)["B"].first_start == 10


def test_preempted_checkpointable_job_resumes_from_its_last_checkpoint_after_the_penalty():
    # L checkpoints every 300 s of progress. H (higher priority) arrives at 650 and takes the only GPU:
    # L is stopped at 650 with 650 s done, resumes at 760 (when H ends) from the checkpoint at 600,
    # spends 30 s restoring and needs 400 s more.
    result = simulate(
        [trace_job("L", 0, 1, 1000), trace_job("H", 650, 1, 100, priority=1)],
        nodes=1,
        gpus=1,
        decide=StandIn(preempt_grace_s=0),
        restart_penalty_s=30,
        checkpoint_interval_s=300,
    )
    jobs, s = by_id(result), result.summary
    assert (jobs["H"].first_start, jobs["H"].end) == (660, 760)
    assert jobs["L"].end == pytest.approx(760 + 30 + 400)
    assert jobs["L"].preemptions == 1 and s["preemptions"] == 1
    assert s["lost_gpu_s"] == pytest.approx(50)


def test_grace_period_keeps_the_victim_running_until_it_expires():
    result = simulate(
        [trace_job("L", 0, 1, 1000), trace_job("H", 650, 1, 100, priority=1)],
        nodes=1,
        gpus=1,
        decide=StandIn(preempt_grace_s=20),
        restart_penalty_s=30,
        checkpoint_interval_s=300,
    )
    jobs = by_id(result)
    assert jobs["H"].first_start == 670  # the GPU frees when the grace period ends
    assert jobs["L"].end == pytest.approx(770 + 30 + 400)
    assert result.summary["lost_gpu_s"] == pytest.approx(70)


def test_non_checkpointable_job_restarts_from_scratch():
    result = simulate(
        [trace_job("L", 0, 1, 1000, checkpointable=False), trace_job("H", 650, 1, 100, priority=1)],
        nodes=1,
        gpus=1,
        decide=StandIn(preempt_grace_s=0),
        restart_penalty_s=30,
        checkpoint_interval_s=300,
    )
    assert by_id(result)["L"].end == pytest.approx(760 + 30 + 1000)
    assert result.summary["lost_gpu_s"] == pytest.approx(650)


def test_engine_sees_the_checkpoint_time_and_the_terminating_victim():
    standin = StandIn(preempt_grace_s=100)  # L is stopping from 650 to 750; X's arrival makes a cycle at 700
    simulate(
        [trace_job("L", 0, 1, 1000), trace_job("H", 650, 1, 100, priority=1), trace_job("X", 700, 1, 10)],
        nodes=1,
        gpus=1,
        decide=standin,
        checkpoint_interval_s=300,
    )
    at_700 = next(s for s in standin.seen if s.now == 700)
    (victim,) = at_700.running
    assert victim.last_checkpoint_at == 600
    assert at_700.terminating == frozenset({"L"})


def test_fractional_job_counts_its_share_in_allocation_and_the_whole_gpu_in_utilization():
    result = simulate([trace_job("F", 0, 1, 100, milli=500)], nodes=1, gpus=1)
    assert result.summary["allocation_ratio"] == pytest.approx(0.5)
    assert result.summary["gpu_utilization"] == pytest.approx(1.0)


def test_job_past_its_maximum_runtime_is_stopped_at_that_time():
    result = simulate([trace_job("X", 0, 1, 500, max_runtime=120)], nodes=1, gpus=1)
    job = by_id(result)["X"]
    assert (job.end, job.outcome) == (120, JobOutcome.FAILED)
    assert result.summary["stopped"] == 1 and result.summary["succeeded"] == 0


def test_jobs_on_a_lost_node_are_requeued_and_restart_elsewhere():
    jobs = (trace_job("A", 0, 1, 100, checkpointable=False),)
    workload = Workload(jobs, uniform_nodes(2, 1), node_events=(NodeEvent(40, "node-0", "lost"),))
    result = Simulation(workload, StandIn(), None, SimConfig(restart_penalty_s=30)).run()
    job = result.jobs[0]
    assert job.requeues == 1 and result.summary["requeues"] == 1
    assert job.end == pytest.approx(40 + 30 + 100)  # a cycle at once places it on node-1


def test_placing_on_a_busy_gpu_stops_the_simulation():
    def double_booker(snapshot: Snapshot, policy: object) -> Decisions:
        on_gpu_0 = (ReplicaPlacement(0, "node-0", (0,)),)
        return Decisions(tuple(Place(job.job_id, "A100", on_gpu_0) for job in snapshot.pending))

    with pytest.raises(PlacementRejected, match="GPU 0 of node-0"):
        simulate([trace_job("A", 0, 1, 10), trace_job("B", 0, 1, 10)], nodes=1, gpus=2, decide=double_booker)


def test_placing_a_job_that_is_not_pending_stops_the_simulation():
    def ghost(snapshot: Snapshot, policy: object) -> Decisions:
        return Decisions((Place("nobody", "A100", (ReplicaPlacement(0, "node-0", (0,)),)),))

    with pytest.raises(SimulationError, match="nobody"):
        simulate([trace_job("A", 0, 1, 10)], nodes=1, gpus=1, decide=ghost)


def test_usage_history_accumulates_per_queue_gpu_seconds():
    standin = StandIn()
    simulate(
        [trace_job("A", 0, 2, 100, tenant="t1"), trace_job("B", 200, 1, 10, tenant="t2")],
        nodes=1,
        gpus=2,
        decide=standin,
        usage_half_life_s=1e12,  # no decay: plain GPU-seconds
    )
    last = dict(standin.seen[-1].usage_history)
    assert last["t1-p"] == pytest.approx(200)
    assert last["t2-p"] == pytest.approx(10)


def test_tenant_shares_compare_received_with_entitlement():
    result = simulate(
        [trace_job("A", 0, 2, 100, tenant="t1"), trace_job("B", 0, 2, 300, tenant="t2")], nodes=1, gpus=4
    )
    tenants = result.summary["tenants"]
    assert tenants["t1"]["share"] == pytest.approx(0.25) and tenants["t2"]["share"] == pytest.approx(0.75)
    assert tenants["t1"]["entitlement"] == tenants["t2"]["entitlement"] == 0.5


def test_a_job_that_never_fits_is_reported_unfinished_and_the_run_ends():
    result = simulate([trace_job("big", 0, 8, 10), trace_job("small", 5, 1, 10)], nodes=1, gpus=2)
    assert result.summary["unfinished"] == 2  # strict FIFO: small waits behind big forever
    assert result.summary["allocation_ratio"] == 0.0


def test_failed_gpu_requeues_only_the_job_on_it_and_takes_no_new_work():
    jobs = (trace_job("A", 0, 1, 100), trace_job("B", 0, 1, 100))
    events = (NodeEvent(50, "node-0", "gpu_fail", gpu_index=1),)
    workload = Workload(jobs, uniform_nodes(1, 2), node_events=events)
    result = Simulation(workload, StandIn(), None, SimConfig(restart_penalty_s=0)).run()
    a, b = result.jobs
    assert (a.requeues, a.end) == (0, 100)
    # B loses its 50 s (no checkpoint yet) and restarts at 100, when A frees the one healthy GPU.
    assert b.requeues == 1 and (b.first_start, b.end) == (0, 200)
    assert result.summary["requeues"] == 1


def test_drained_node_keeps_its_jobs_but_takes_no_new_ones():
    jobs = (trace_job("A", 0, 1, 100), trace_job("B", 10, 1, 30), trace_job("C", 20, 1, 30))
    workload = Workload(jobs, uniform_nodes(2, 1), node_events=(NodeEvent(5, "node-0", "drain"),))
    result = Simulation(workload, StandIn(), None, SimConfig()).run()
    a, b, c = result.jobs
    assert (a.first_start, a.end) == (0, 100)  # keeps running on the drained node
    assert (b.first_start, c.first_start) == (10, 40)  # C waits for node-1, not for drained node-0
