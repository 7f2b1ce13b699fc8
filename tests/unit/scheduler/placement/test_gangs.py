"""Gangs: whole or nothing, one flavor, and topology: one node, then one NVLink domain, then one rack."""

from __future__ import annotations

import pytest

from services.scheduler.domain.engine.placement import PLACEMENT_POLICIES
from tests.unit.scheduler.placement.builders import cluster, job, node, running

POLICIES = list(PLACEMENT_POLICIES.values())


def busy(node_id: str, *gpus: int):
    return running(job(f"busy-{node_id}", gpus=len(gpus)), (node_id, gpus))


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
def test_a_gang_that_does_not_fit_whole_is_not_placed_at_all(policy) -> None:
    state = cluster(node("n1", gpus=4), node("n2", gpus=4))
    assert policy.place(state, job("big", gpus=4, replicas=3), ()) is None
    found = policy.place(state, job("fits", gpus=4, replicas=2), ())
    assert found is not None
    assert sorted(p.node_id for p in found[1]) == ["n1", "n2"]
    assert [p.replica for p in found[1]] == [0, 1]
    assert state.free_gpus("A100") == 8  # nothing was committed


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
def test_a_gang_goes_on_one_node_when_one_can_hold_it(policy) -> None:
    state = cluster(node("small-a", gpus=4), node("small-b", gpus=4), node("big", gpus=8))
    found = policy.place(state, job("g", gpus=4, replicas=2), ())
    assert found is not None
    assert [p.node_id for p in found[1]] == ["big", "big"]
    assert sorted(i for p in found[1] for i in p.gpu_indices) == list(range(8))


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
def test_a_gang_prefers_one_nvlink_domain_over_spreading(policy) -> None:
    # Every node has 4 free GPUs; only d2 holds two such nodes.
    state = cluster(
        node("a", nvlink="d1", rack="r1"),
        node("b", nvlink="d2", rack="r1"),
        node("c", nvlink="d2", rack="r1"),
        busy=(busy("a", 0, 1, 2, 3), busy("b", 0, 1, 2, 3), busy("c", 0, 1, 2, 3)),
    )
    found = policy.place(state, job("g", gpus=4, replicas=2), ())
    assert found is not None
    assert sorted(p.node_id for p in found[1]) == ["b", "c"]


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
def test_a_gang_prefers_one_rack_when_no_nvlink_domain_holds_it(policy) -> None:
    state = cluster(
        node("a", nvlink="d1", rack="r1"),
        node("b", nvlink="d2", rack="r2"),
        node("c", nvlink="d3", rack="r2"),
        busy=(busy("a", 0, 1, 2, 3), busy("b", 0, 1, 2, 3), busy("c", 0, 1, 2, 3)),
    )
    found = policy.place(state, job("g", gpus=4, replicas=2), ())
    assert found is not None
    assert sorted(p.node_id for p in found[1]) == ["b", "c"]


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
def test_a_gang_spreads_when_no_domain_holds_it(policy) -> None:
    state = cluster(
        node("a", gpus=4, nvlink="d1", rack="r1"),
        node("b", gpus=4, nvlink="d2", rack="r2"),
        node("c", gpus=4, nvlink="d3", rack="r3"),
    )
    found = policy.place(state, job("g", gpus=4, replicas=3), ())
    assert found is not None
    assert sorted(p.node_id for p in found[1]) == ["a", "b", "c"]


def test_a_gang_stays_on_one_flavor() -> None:
    state = cluster(node("a100", gpus=4, model="A100"), node("h100", gpus=4, model="H100"))
    for policy in POLICIES:
        assert policy.place(state, job("g", gpus=4, replicas=2), ()) is None
        found = policy.place(state, job("g", gpus=2, replicas=2), ())
        assert found is not None
        assert len({p.node_id for p in found[1]}) == 1


def test_fractional_replicas_of_a_gang_may_share_a_gpu() -> None:
    state = cluster(node("n1", gpus=1))
    found = PLACEMENT_POLICIES["best_fit"].place(state, job("g", milli=400, replicas=2), ())
    assert found is not None
    assert [(p.node_id, p.gpu_indices, p.gpu_milli) for p in found[1]] == [("n1", (0,), 400)] * 2
    assert PLACEMENT_POLICIES["best_fit"].place(state, job("h", milli=400, replicas=3), ()) is None
