"""decide() as a function: the same snapshot gives the same decisions whatever ran before it, a
caller's cluster is left with exactly the Place decisions, unknown policies are named."""

import pytest

from services.scheduler.domain.engine import EngineCache, PoolPolicy, decide
from services.scheduler.domain.engine.model import Decisions, Place
from services.scheduler.domain.engine.placement import PLACEMENT_POLICIES, ClusterState
from tests.unit.scheduler.engine.builders import NOW, job, nodes, run_cycle, running, snapshot


def busy_fleet_snapshot(first: int):
    """The same fleet, with different jobs running: the engine reuses its cluster state across them."""
    run = [
        running(job(f"run{first + i}", gpus=2, max_runtime_s=900), f"n{i}", started_at=NOW - 100)
        for i in range(3)
    ]
    pending = [
        job("wide", gpus=8, submitted_at=1),
        job("narrow", gpus=4, submitted_at=2),
        job("tiny", submitted_at=3),
    ]
    return snapshot(nodes(4), pending, run)


def with_a_fresh_cache(snap) -> Decisions:
    """Decisions with nothing kept from earlier cycles."""
    return run_cycle(snap, cache=EngineCache())


def test_decisions_do_not_depend_on_earlier_cycles():
    first, second = busy_fleet_snapshot(0), busy_fleet_snapshot(100)
    before = run_cycle(first)
    run_cycle(second)
    assert run_cycle(first) == before
    assert run_cycle(second) == with_a_fresh_cache(second)


def test_a_callers_cluster_keeps_only_the_place_decisions():
    snap = busy_fleet_snapshot(0)
    cluster = ClusterState.from_snapshot(snap.nodes, snap.running)
    decisions = decide(snap, PoolPolicy(placement="first_fit"), cluster=cluster)
    expected = ClusterState.from_snapshot(snap.nodes, snap.running)
    for place in decisions.of_type(Place):
        request = next(r for r in snap.pending if r.job_id == place.job_id)
        expected.commit(request, place.placements)
    assert [cluster.free_milli(n.node_id) for n in snap.nodes] == [
        expected.free_milli(n.node_id) for n in snap.nodes
    ]


def test_an_explicit_placement_policy_overrides_the_named_one():
    snap = snapshot(nodes(2), [job("a", gpus=2)], [running(job("r", gpus=4), "n1")])
    best = decide(snap, PoolPolicy(placement="first_fit"), placement=PLACEMENT_POLICIES["best_fit"])
    assert best.of_type(Place)[0].placements[0].node_id == "n1"  # best fit: the fuller node


def test_an_unknown_placement_policy_is_named():
    with pytest.raises(ValueError, match="unknown placement policy 'nowhere'"):
        decide(snapshot(nodes(1), [job("a")]), PoolPolicy(placement="nowhere"))
