"""The engine's snapshot of the live state: nodes and GPU indices, running jobs, queues, fair-share history."""

from __future__ import annotations

import pytest

from services.scheduler.domain.engine import decay_usage
from services.scheduler.domain.engine.model import FlavorQuota, ReplicaPlacement
from services.scheduler.domain.model import (
    FleetGpu,
    FleetNode,
    HeldReplica,
    HoldingJob,
    ProjectQuota,
    UsageHistory,
)
from services.scheduler.domain.snapshot import SnapshotBuilder, advance_history
from tests.unit.scheduler.builders import NOW, T0, holding, live, node, queued, request


def test_nodes_carry_their_topology_health_and_whether_they_take_work() -> None:
    nodes = [
        node("n1", gpus=4, unhealthy=(2,), nvlink_domain="nvl-a", rack="r1"),
        node("n2", "H100", gpus=2, ready=False),
    ]

    snapshot, _ = SnapshotBuilder().build(live(nodes=nodes), UsageHistory())

    n1, n2 = snapshot.nodes
    assert (n1.node_id, n1.gpu_model, n1.gpu_count, n1.unhealthy_gpus) == ("n1", "A100", 4, frozenset({2}))
    assert (n1.nvlink_domain, n1.rack, n1.schedulable) == ("nvl-a", "r1", True)
    assert (n2.node_id, n2.gpu_model, n2.gpu_count, n2.schedulable) == ("n2", "H100", 2, False)


def test_a_node_with_two_models_is_one_engine_node_per_model_mapped_back_to_it() -> None:
    gpus = (FleetGpu("u0", "A100"), FleetGpu("u1", "H100"), FleetGpu("u2", "A100"))
    mixed = FleetNode("n1", True, gpus, rack="r1")

    snapshot, fleet = SnapshotBuilder().build(live(nodes=[mixed]), UsageHistory())

    assert [(n.node_id, n.gpu_model, n.gpu_count, n.rack) for n in snapshot.nodes] == [
        ("n1/A100", "A100", 2, "r1"),
        ("n1/H100", "H100", 1, "r1"),
    ]
    assert fleet.node_id("n1/A100") == "n1"
    assert fleet.gpu_uuids("n1/A100", (1,)) == ("u2",)


def test_running_jobs_hold_their_gpu_indices_since_their_earliest_start_and_stopping_ones_terminate() -> None:
    gang = HoldingJob(
        request("gang", replicas=2, gpus=2),
        (
            HeldReplica(0, "n1", "A100", ("n1-g2", "n1-g3"), T0.timestamp() + 20),
            HeldReplica(1, "n2", "A100", ("n2-g0", "n2-g1"), T0.timestamp() + 10),
        ),
    )
    stopping = holding("leaving", "n1", (0,), stopping=True)

    snapshot, _ = SnapshotBuilder().build(
        live(nodes=[node("n1"), node("n2")], held=[gang, stopping]), UsageHistory()
    )

    running = {job.request.job_id: job for job in snapshot.running}
    assert running["gang"].placements == (
        ReplicaPlacement(0, "n1", (2, 3)),
        ReplicaPlacement(1, "n2", (0, 1)),
    )
    assert (running["gang"].flavor, running["gang"].started_at) == ("A100", T0.timestamp() + 10)
    assert snapshot.terminating == frozenset({"leaving"})


def test_a_gpu_no_longer_present_is_left_out_of_a_running_placement() -> None:
    held = holding("j1", "n1", (0, 9))  # n1-g9 does not exist

    snapshot, _ = SnapshotBuilder().build(live(nodes=[node("n1", gpus=4)], held=[held]), UsageHistory())

    assert snapshot.running[0].placements == (ReplicaPlacement(0, "n1", (0,)),)


def test_every_project_known_to_the_cycle_is_a_queue_with_its_quotas() -> None:
    quotas = {"prj_q": ProjectQuota("ten_q", {"H100": 4, "A100": 2})}
    history = UsageHistory({"prj_h": 100.0}, {"prj_h": "ten_h"}, NOW)
    state = live(
        [queued("p", project="prj_p", tenant="ten_p")],
        [node("n1")],
        [holding("r", "n1", (0,), project="prj_r", tenant="ten_r")],
        quotas,
    )

    snapshot, _ = SnapshotBuilder().build(state, history)

    queues = {q.queue_id: (q.tenant_id, q.quotas) for q in snapshot.queues}
    assert queues == {
        "prj_h": ("ten_h", ()),
        "prj_p": ("ten_p", ()),
        "prj_q": ("ten_q", (("A100", FlavorQuota(nominal=2)), ("H100", FlavorQuota(nominal=4)))),
        "prj_r": ("ten_r", ()),
    }
    assert snapshot.usage_history == (("prj_h", 100.0),)
    assert (snapshot.now, [r.job_id for r in snapshot.pending]) == (NOW, ["p"])


def test_an_unchanged_running_job_and_fleet_are_reused_from_the_last_cycle() -> None:
    builder = SnapshotBuilder()
    nodes = (node("n1"),)
    first, _ = builder.build(
        live(nodes=nodes, held=[holding("a", "n1", (0,)), holding("b", "n1", (1,))]), UsageHistory()
    )

    # The same fleet object; "a" unchanged (but loaded afresh), "b" now stopping.
    again, _ = builder.build(
        live(nodes=nodes, held=[holding("a", "n1", (0,)), holding("b", "n1", (1,), stopping=True)]),
        UsageHistory(),
    )
    other_fleet, _ = builder.build(live(nodes=(node("n1"),), held=[holding("a", "n1", (0,))]), UsageHistory())

    assert again.nodes is first.nodes
    assert again.running[0] is first.running[0]
    assert again.running[1] == first.running[1] and again.terminating == frozenset({"b"})
    assert other_fleet.nodes is not first.nodes and other_fleet.running[0] is not first.running[0]


def test_the_history_clock_starts_at_the_first_cycle() -> None:
    started = advance_history(UsageHistory(), {"prj_r": ("ten_r", 2)}, NOW, half_life_s=3600)

    assert started == UsageHistory({}, {}, NOW)


def test_the_history_decays_and_adds_what_projects_used_since() -> None:
    history = UsageHistory({"prj_old": 500.0}, {"prj_old": "ten_old"}, NOW - 10)

    advanced = advance_history(history, {"prj_r": ("ten_r", 2)}, NOW, half_life_s=60)

    expected = decay_usage({"prj_old": 500.0}, {"prj_r": 2 * 10.0}, 10, 60)
    assert advanced.gpu_seconds == pytest.approx(expected)
    assert advanced.tenants == {"prj_old": "ten_old", "prj_r": "ten_r"}
    assert advanced.decayed_at == NOW


def test_a_clock_behind_the_last_decay_leaves_the_history_alone() -> None:
    history = UsageHistory({"prj_a": 5.0}, {"prj_a": "ten_a"}, NOW + 3)

    assert advance_history(history, {}, NOW, half_life_s=60) is history
