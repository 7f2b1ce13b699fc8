"""The placement policy: FIFO, first fit, gang, GPU model constraint, quotas, and the reasons it gives."""

from __future__ import annotations

from services.scheduler.domain.model import Decisions
from services.scheduler.domain.policy import decide
from tests.unit.scheduler.builders import T0, job, node, snapshot


def placed(decisions: Decisions) -> dict[str, list[tuple[str, tuple[str, ...]]]]:
    return {p.job.job_id: [(r.node_id, r.gpu_uuids) for r in p.replicas] for p in decisions.placements}


def reasons(decisions: Decisions) -> dict[str, str]:
    return {b.job.job_id: b.reason for b in decisions.blocked}


def test_a_gang_is_placed_whole_with_each_replica_on_one_node() -> None:
    decisions = decide(
        snapshot([job("j1", replicas=3, gpus=4)], [node("n1", free=4), node("n2", free=8)]), T0
    )

    assert placed(decisions) == {
        "j1": [
            ("n1", ("n1-g0", "n1-g1", "n1-g2", "n1-g3")),
            ("n2", ("n2-g0", "n2-g1", "n2-g2", "n2-g3")),
            ("n2", ("n2-g4", "n2-g5", "n2-g6", "n2-g7")),
        ]
    }
    assert [r.replica for r in decisions.placements[0].replicas] == [0, 1, 2]


def test_a_gang_that_does_not_fit_whole_takes_nothing() -> None:
    # 3 free GPUs on each node: 6 in all, but no node holds a 4-GPU replica.
    decisions = decide(
        snapshot([job("j1", replicas=2, gpus=4, models=("A100",))], [node("n1", free=3), node("n2", free=3)]),
        T0,
    )

    assert placed(decisions) == {}
    assert reasons(decisions) == {"j1": "capacity: no 2 nodes with 4 free GPUs of models [A100]"}


def test_jobs_are_placed_oldest_first_and_first_fit_across_nodes() -> None:
    jobs = [
        job("late", gpus=2, submitted_s=5),
        job("early", gpus=6, submitted_s=1),
        job("middle", gpus=4, submitted_s=3),
    ]

    decisions = decide(snapshot(jobs, [node("n2", free=8), node("n1", free=4)]), T0)

    # n1 comes first: early (6) does not fit its 4 and goes to n2, middle (4) fills n1, late (2) joins n2.
    assert [p.job.job_id for p in decisions.placements] == ["early", "middle", "late"]
    assert {job_id: [n for n, _ in replicas] for job_id, replicas in placed(decisions).items()} == {
        "early": ["n2"],
        "middle": ["n1"],
        "late": ["n2"],
    }


def test_a_blocked_job_does_not_hold_back_smaller_ones_behind_it() -> None:
    decisions = decide(
        snapshot(
            [job("big", gpus=8, submitted_s=0), job("small", gpus=2, submitted_s=1)], [node("n1", free=4)]
        ),
        T0,
    )

    assert list(placed(decisions)) == ["small"]
    assert reasons(decisions) == {"big": "capacity: no node with 8 free GPUs of any model"}


def test_only_the_requested_gpu_models_are_used_and_all_replicas_share_one() -> None:
    nodes = [node("n1", "A100", free=2), node("n2", "H100", free=2), node("n3", "H100", free=2)]

    decisions = decide(snapshot([job("j1", replicas=2, gpus=2, models=("A100", "H100"))], nodes), T0)

    # A100 has room for one replica only, so the whole gang goes to H100.
    assert decisions.placements[0].gpu_model == "H100"
    assert [n for n, _ in placed(decisions)["j1"]] == ["n2", "n3"]


def test_a_job_asking_for_a_model_the_fleet_lacks_waits_for_capacity() -> None:
    decisions = decide(snapshot([job("j1", models=("H100",))], [node("n1", "A100")]), T0)

    assert reasons(decisions) == {"j1": "capacity: no node with 1 free GPU of models [H100]"}


def test_bound_and_unhealthy_gpus_are_not_used() -> None:
    decisions = decide(snapshot([job("j1", gpus=3)], [node("n1", free=2, bound=4, unhealthy=2)]), T0)

    assert reasons(decisions) == {"j1": "capacity: no node with 3 free GPUs of any model"}


def test_quota_limits_gpus_of_a_model_per_project_and_says_so() -> None:
    quotas = {("prj_x", "A100"): 8}
    usage = {("prj_x", "A100"): 6}

    decisions = decide(
        snapshot([job("j1", gpus=4, project="prj_x")], [node("n1", free=8)], quotas, usage), T0
    )

    assert reasons(decisions) == {"j1": "quota: project prj_x has 6 of 8 A100 GPUs in use and asks 4"}


def test_quota_counts_what_this_cycle_already_placed() -> None:
    jobs = [
        job("j1", gpus=4, project="prj_x", submitted_s=0),
        job("j2", gpus=4, project="prj_x", submitted_s=1),
    ]

    decisions = decide(snapshot(jobs, [node("n1", free=8)], quotas={("prj_x", "A100"): 6}), T0)

    assert list(placed(decisions)) == ["j1"]
    assert reasons(decisions) == {"j2": "quota: project prj_x has 4 of 6 A100 GPUs in use and asks 4"}


def test_a_model_without_a_quota_row_is_unlimited_and_quota_is_per_model() -> None:
    nodes = [node("n1", "A100", free=8), node("n2", "H100", free=8)]
    quotas = {("prj_x", "A100"): 0}

    decisions = decide(snapshot([job("j1", gpus=8, project="prj_x")], nodes, quotas), T0)

    # A100 is closed to prj_x, H100 has no row: the job runs on H100.
    assert decisions.placements[0].gpu_model == "H100"


def test_quota_of_one_project_does_not_limit_another() -> None:
    decisions = decide(
        snapshot([job("j1", gpus=4, project="prj_y")], [node("n1", free=8)], quotas={("prj_x", "A100"): 0}),
        T0,
    )

    assert list(placed(decisions)) == ["j1"]


def test_both_reasons_are_given_when_one_model_is_over_quota_and_another_is_full() -> None:
    nodes = [node("n1", "A100", free=8), node("n2", "H100", free=1)]

    decisions = decide(
        snapshot(
            [job("j1", gpus=4, models=("A100", "H100"), project="prj_x")],
            nodes,
            quotas={("prj_x", "A100"): 2},
        ),
        T0,
    )

    assert reasons(decisions) == {
        "j1": "capacity: no node with 4 free GPUs of models [H100]; "
        "quota: project prj_x has 0 of 2 A100 GPUs in use and asks 4"
    }


def test_an_unchanged_reason_is_reported_as_unchanged() -> None:
    waiting = job("j1", gpus=16, reason="capacity: no node with 16 free GPUs of any model")

    decisions = decide(snapshot([waiting, job("j2", gpus=16, submitted_s=1)], [node("n1")]), T0)

    assert [(b.job.job_id, b.reason_changed) for b in decisions.blocked] == [("j1", False), ("j2", True)]
