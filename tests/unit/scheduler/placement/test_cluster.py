"""ClusterState: what is free after the snapshot, commit and release, exclusions and the indices."""

from __future__ import annotations

import pytest

from services.scheduler.domain.engine.model import ReplicaPlacement
from tests.unit.scheduler.placement.builders import cluster, job, node, running


def test_running_jobs_take_their_gpus_cpu_and_memory() -> None:
    whole = job("whole", gpus=2, cpu=4000, mem=1024)
    share = job("share", milli=300, cpu=1000, mem=512)
    state = cluster(
        node("n1", gpus=4, cpu=16000, mem=8192),
        busy=(running(whole, ("n1", (0, 1))), running(share, ("n1", (2,)))),
    )
    assert state.free_milli("n1") == (0, 0, 700, 1000)
    n1 = state.node("n1")
    assert n1 is not None and (n1.cpu_free, n1.mem_free) == (11000, 6656)
    assert state.free_gpus("A100") == 1  # only fully free GPUs count


def test_unhealthy_gpus_and_unschedulable_nodes_take_nothing() -> None:
    state = cluster(
        node("sick", gpus=4, unhealthy=frozenset({1, 3})),
        node("drained", gpus=8, schedulable=False),
        busy=(running(job("lost", gpus=2), ("drained", (0, 1))),),
    )
    assert state.free_gpus("A100") == 2
    assert state.free_milli("sick") == (1000, 0, 1000, 0)
    assert state.node("drained") is None


def test_commit_then_release_restores_the_state() -> None:
    state = cluster(node("n1", gpus=2, cpu=8000))
    request = job("j", milli=400, cpu=2000)
    placements = (ReplicaPlacement(0, "n1", (1,), 400),)
    state.commit(request, placements)
    assert state.free_milli("n1") == (1000, 600)
    assert state.free_gpus("A100") == 1
    state.release(request, placements)
    assert state.free_milli("n1") == (1000, 1000)
    n1 = state.node("n1")
    assert n1 is not None and n1.cpu_free == 8000
    assert state.free_gpus("A100") == 2


def test_commit_beyond_free_capacity_is_refused_and_changes_nothing() -> None:
    state = cluster(node("n1", gpus=1), busy=(running(job("a", milli=700), ("n1", (0,))),))
    with pytest.raises(ValueError, match="GPU 0 of node 'n1' has 300 free thousandths"):
        state.commit(job("b", milli=500), (ReplicaPlacement(0, "n1", (0,), 500),))
    assert state.free_milli("n1") == (300,)


def test_commit_on_an_excluded_node_or_gpu_is_refused() -> None:
    state = cluster(node("n1", gpus=2, unhealthy=frozenset({1})), node("off", schedulable=False))
    with pytest.raises(ValueError, match="not schedulable"):
        state.commit(job("a"), (ReplicaPlacement(0, "off", (0,)),))
    with pytest.raises(ValueError, match="GPU 1 of node 'n1' is not usable"):
        state.commit(job("a"), (ReplicaPlacement(0, "n1", (1,)),))


def test_identical_nodes_form_one_group_so_placement_does_not_scan_them() -> None:
    state = cluster(*(node(f"n{i:03d}") for i in range(200)))
    groups = state.indices["A100"].groups
    assert len(groups) == 1
    (by_res,) = groups.values()
    (orders,) = by_res.values()
    assert len(orders) == 200
    state.commit(job("j", gpus=3), (ReplicaPlacement(0, "n007", (0, 1, 2)),))
    assert sorted(len(o) for by in state.indices["A100"].groups.values() for o in by.values()) == [1, 199]


def test_mig_gpus_form_their_own_flavor() -> None:
    state = cluster(node("n1", gpus=4, mig=((2, "1g.10gb"), (3, "1g.10gb"))))
    assert state.flavors == ("A100", "A100:1g.10gb")
    assert state.free_gpus("A100") == 2
    assert state.free_gpus("A100:1g.10gb") == 2
    assert state.free_gpus("H100") == 0


def test_a_node_listed_twice_is_an_error() -> None:
    with pytest.raises(ValueError, match="'n1' appears twice"):
        cluster(node("n1", schedulable=False), node("n1"))


def test_a_snapshot_that_books_a_gpu_twice_counts_it_full_instead_of_failing() -> None:
    state = cluster(
        node("n1", gpus=2),
        busy=(running(job("a", milli=700), ("n1", (0,))), running(job("b", milli=600), ("n1", (0,)))),
    )
    assert state.free_milli("n1") == (0, 1000)
    state.release(job("a", milli=700), (ReplicaPlacement(0, "n1", (0,), 700),))
    state.release(job("b", milli=600), (ReplicaPlacement(0, "n1", (0,), 600),))
    assert state.free_milli("n1") == (1000, 1000)  # never more than the whole GPU
