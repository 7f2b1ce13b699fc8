"""The caller's EngineCache: decisions do not depend on it, and a cache follows the fleet it is given."""

from services.scheduler.domain.engine import EngineCache, PoolPolicy, decide
from services.scheduler.domain.engine.model import Snapshot
from tests.unit.scheduler.engine.builders import NOW, job, nodes, run_cycle, running, snapshot

PENDING = [
    job("wide", gpus=8, submitted_at=1),
    job("narrow", gpus=4, submitted_at=2),
    job("tiny", submitted_at=3),
    job("huge", gpus=64, submitted_at=4),
]


def busy(first: int, prefix: str = "n") -> Snapshot:
    run = [
        running(job(f"run{first + i}", gpus=2, max_runtime_s=900), f"{prefix}{i}", started_at=NOW - 100)
        for i in range(3)
    ]
    return snapshot(nodes(4, prefix=prefix), PENDING, run)


def test_a_warm_cache_gives_the_decisions_of_a_fresh_one():
    cache = EngineCache()
    # The same fleet cycle after cycle, with jobs starting and ending between cycles.
    for snap in (busy(0), busy(0), busy(1), busy(10), busy(0)):
        warm = run_cycle(snap, cache=cache)
        assert warm == run_cycle(snap, cache=EngineCache())
        assert cache.cluster is not None and cache.running is not None and cache.gate_memo is not None


def test_the_same_fleet_in_a_new_tuple_keeps_the_cache():
    cache = EngineCache()
    first = busy(0)
    run_cycle(first, cache=cache)
    flavors, index = cache.flavors, cache.running
    again = busy(1)  # equal nodes, a new tuple
    assert again.nodes is not first.nodes and again.nodes == first.nodes
    assert run_cycle(again, cache=cache) == run_cycle(again, cache=EngineCache())
    assert cache.flavors is flavors and cache.running is index
    assert cache.nodes is again.nodes


def test_a_cache_warmed_on_one_fleet_starts_afresh_on_another():
    cache = EngineCache()
    run_cycle(busy(0), cache=cache)
    kept = (cache.flavors, cache.running, cache.cluster, cache.gate_memo)
    other = busy(0, prefix="m")  # the same jobs (the very request objects) on other nodes
    assert run_cycle(other, cache=cache) == run_cycle(other, cache=EngineCache())
    assert cache.nodes is other.nodes
    assert all(
        now is not before
        for now, before in zip(
            (cache.flavors, cache.running, cache.cluster, cache.gate_memo), kept, strict=True
        )
    )
    # And back: the first fleet's decisions are again its own.
    assert run_cycle(busy(0), cache=cache) == run_cycle(busy(0), cache=EngineCache())


def test_decide_without_a_cache_decides_afresh():
    snap = busy(0)
    policy = PoolPolicy(placement="first_fit")
    assert decide(snap, policy) == decide(snap, policy, cache=EngineCache()) == run_cycle(snap)
