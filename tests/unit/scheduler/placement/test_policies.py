"""Each policy's choice on small hand-made clusters."""

from __future__ import annotations

import pytest

from services.scheduler.domain.engine.placement import CPU_ONLY_FLAVOR, PLACEMENT_POLICIES, ClusterState
from services.scheduler.domain.engine.placement_api import PlacementPolicy
from tests.unit.scheduler.placement.builders import cluster, job, node, running, shares

FIRST_FIT = PLACEMENT_POLICIES["first_fit"]
BEST_FIT = PLACEMENT_POLICIES["best_fit"]
FGD = PLACEMENT_POLICIES["fgd"]


def nodes_of(
    policy: PlacementPolicy, state: ClusterState, request, flavors: tuple[str, ...] = ()
) -> list[str]:
    found = policy.place(state, request, flavors)
    assert found is not None, f"{policy.name} placed nothing"
    return [p.node_id for p in found[1]]


def test_every_registered_policy_is_named_and_described() -> None:
    assert {"first_fit", "best_fit", "fgd", "fgd_exact"} <= set(PLACEMENT_POLICIES)
    for name, policy in PLACEMENT_POLICIES.items():
        assert policy.name == name
        assert policy.description


def test_best_fit_picks_the_node_left_tightest() -> None:
    state = cluster(
        node("roomy", gpus=8),
        node("tight", gpus=4),
        node("middle", gpus=8),
        busy=(
            running(job("a", gpus=2), ("tight", (0, 1))),
            running(job("b", gpus=4), ("middle", (0, 1, 2, 3))),
        ),
    )
    assert nodes_of(BEST_FIT, state, job("j", gpus=2)) == ["tight"]
    assert nodes_of(FIRST_FIT, state, job("j", gpus=2)) == ["roomy"]


def test_best_fit_counts_cpu_left_when_gpus_tie() -> None:
    state = cluster(node("big-cpu", gpus=2, cpu=64000), node("small-cpu", gpus=2, cpu=16000))
    assert nodes_of(BEST_FIT, state, job("j", cpu=8000)) == ["small-cpu"]


def test_best_fit_puts_a_share_on_the_tightest_gpu() -> None:
    state = cluster(
        node("n1", gpus=3),
        busy=(running(job("a", milli=300), ("n1", (0,))), running(job("b", milli=600), ("n1", (2,)))),
    )
    found = BEST_FIT.place(state, job("j", milli=400), ())
    assert found is not None
    assert found[1][0].gpu_indices == (2,) and found[1][0].gpu_milli == 400


@pytest.mark.parametrize("fgd", [FGD, PLACEMENT_POLICIES["fgd_exact"]], ids=lambda p: p.name)
def test_fgd_avoids_stranding_a_fraction_that_best_fit_strands(fgd: PlacementPolicy) -> None:
    # The target workload asks for 600-thousandth shares. A 300 share on the 800-free GPU would leave 500
    # that no such share can use; on the empty GPU it leaves 700, still useful.
    def fresh() -> ClusterState:
        return cluster(
            node("empty", gpus=1),
            node("partly", gpus=1),
            busy=(running(job("x", milli=200), ("partly", (0,))),),
            workload=shares(600),
        )

    assert nodes_of(fgd, fresh(), job("j", milli=300)) == ["empty"]
    assert nodes_of(BEST_FIT, fresh(), job("j", milli=300)) == ["partly"]


def test_fgd_fills_a_fragment_no_target_task_could_use() -> None:
    state = cluster(
        node("fresh", gpus=1),
        node("fragment", gpus=1),
        busy=(running(job("x", milli=700), ("fragment", (0,))),),
        workload=shares(500),
    )
    assert nodes_of(FGD, state, job("j", milli=250)) == ["fragment"]


def test_fgd_learns_the_workload_from_the_requests_it_places() -> None:
    state = cluster(node("n1", gpus=2))
    FGD.place(state, job("j1", milli=500), ())
    FGD.place(state, job("j1", milli=500), ())  # the same job offered again counts once
    FGD.place(state, job("j2", gpus=2), ())
    counts = {shape.gpus: weight for (shape, _), weight in state.workload.counts.items()}
    assert counts == {1: 1.0, 2: 1.0}


def test_fractional_requests_share_a_gpu() -> None:
    state = cluster(node("n1", gpus=2))
    first = BEST_FIT.place(state, job("a", milli=500), ())
    assert first is not None
    state.commit(job("a", milli=500), first[1])
    second = BEST_FIT.place(state, job("b", milli=500), ())
    assert second is not None
    assert second[1][0].gpu_indices == first[1][0].gpu_indices


def test_whole_gpu_requests_need_fully_free_gpus() -> None:
    state = cluster(
        node("n1", gpus=2),
        busy=(running(job("a", milli=100), ("n1", (0,))), running(job("b", milli=100), ("n1", (1,)))),
    )
    for policy in PLACEMENT_POLICIES.values():
        assert policy.place(state, job("j", gpus=1), ()) is None
    assert BEST_FIT.place(state, job("k", milli=900), ()) is not None


def test_unhealthy_gpus_and_drained_nodes_get_no_work() -> None:
    state = cluster(
        node("drained", gpus=8, schedulable=False),
        node("sick", gpus=4, unhealthy=frozenset({0, 1, 2})),
        node("ok", gpus=2),
    )
    for policy in PLACEMENT_POLICIES.values():
        assert nodes_of(policy, state, job("j", gpus=2)) == ["ok"]
        found = FIRST_FIT.place(state, job("k", gpus=1), ())
        assert found is not None
        assert (found[1][0].node_id, found[1][0].gpu_indices) == ("sick", (3,))  # its only healthy GPU


def test_gpu_model_constraint_and_preference_order() -> None:
    state = cluster(
        node("a100", gpus=8, model="A100"), node("h100", gpus=8, model="H100"), node("l4", gpus=8, model="L4")
    )
    for policy in PLACEMENT_POLICIES.values():
        found = policy.place(state, job("j", models=("H100",)), ())
        assert found is not None and found[0] == "H100"
        assert nodes_of(policy, state, job("j", models=("H100",))) == ["h100"]
        assert nodes_of(policy, state, job("j", models=("L4", "H100"))) == ["l4"]
        assert nodes_of(policy, state, job("j"), flavors=("H100",)) == ["h100"]
        assert policy.place(state, job("j", models=("V100",)), ()) is None


def test_mig_slices_are_used_only_when_asked_for_by_name() -> None:
    state = cluster(node("mig", gpus=2, mig=((0, "1g.10gb"), (1, "1g.10gb"))))
    assert BEST_FIT.place(state, job("j"), ()) is None
    found = BEST_FIT.place(state, job("j", models=("A100:1g.10gb",)), ())
    assert found is not None and found[0] == "A100:1g.10gb"


def test_cpu_and_memory_must_fit() -> None:
    state = cluster(node("small", gpus=8, cpu=4000, mem=4096), node("large", gpus=8, cpu=64000, mem=65536))
    assert nodes_of(FIRST_FIT, state, job("j", cpu=8000)) == ["large"]
    assert nodes_of(FIRST_FIT, state, job("j", mem=8192)) == ["large"]
    assert FIRST_FIT.place(state, job("j", cpu=128000), ()) is None


def test_cpu_only_jobs_go_anywhere_with_cpu_and_report_no_flavor() -> None:
    state = cluster(node("gpu", gpus=8, cpu=8000), node("cpu", gpus=0, model="", cpu=32000))
    for policy in PLACEMENT_POLICIES.values():
        found = policy.place(state, job("j", gpus=0, cpu=16000), ())
        assert found is not None
        assert found[0] == CPU_ONLY_FLAVOR
        assert [(p.node_id, p.gpu_indices) for p in found[1]] == [("cpu", ())]


def test_place_does_not_commit() -> None:
    state = cluster(node("n1", gpus=4))
    for policy in PLACEMENT_POLICIES.values():
        policy.place(state, job("j", gpus=2, replicas=2), ())
    assert state.free_milli("n1") == (1000,) * 4


def test_the_paper_score_scale_groups_nearly_equal_growths() -> None:
    from services.scheduler.domain.engine.placement.policies import paper_score

    assert paper_score(10) == paper_score(30)  # both in the same whole point
    assert paper_score(-2000) < paper_score(0) < paper_score(2000)  # less growth scores better (lower)
    assert paper_score(-8000) >= -100 and paper_score(8000) <= 0
