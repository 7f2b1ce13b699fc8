"""The live scheduler's decisions, through the policy engine: gangs, models, health, quotas, priority,
preemption and maximum runtime, as the actions a cycle applies."""

from __future__ import annotations

from services.scheduler.domain.engine import PoolPolicy
from services.scheduler.domain.model import Actions, ProjectQuota
from shared.events.jobs import JobState
from tests.unit.scheduler.builders import decisions, holding, live, node, queued


def placed(actions: Actions) -> dict[str, list[tuple[str, tuple[str, ...]]]]:
    return {b.job.request.job_id: [(r.node_id, r.gpu_uuids) for r in b.replicas] for b in actions.binds}


def verdicts(actions: Actions) -> dict[str, tuple[JobState, str]]:
    return {v.job.request.job_id: (v.state, v.reason) for v in actions.verdicts}


def test_a_gang_is_placed_whole_with_each_replica_on_one_node() -> None:
    actions = decisions(live([queued("j1", replicas=3, gpus=4)], [node("n1", gpus=4), node("n2", gpus=8)]))

    [replicas] = placed(actions).values()
    assert [b.replicas[i].replica for b in actions.binds for i in range(3)] == [0, 1, 2]
    for node_id, uuids in replicas:
        assert len(uuids) == 4 and all(u.startswith(f"{node_id}-") for u in uuids)
    assert len({u for _, uuids in replicas for u in uuids}) == 12


def test_a_gang_that_does_not_fit_whole_takes_nothing_and_says_why() -> None:
    # 3 free GPUs on each node: 6 in all, but no node holds a 4-GPU replica.
    nodes = [node("n1", gpus=4), node("n2", gpus=4)]
    held = [holding("other1", "n1", (0,)), holding("other2", "n2", (0,))]

    actions = decisions(live([queued("j1", replicas=2, gpus=4)], nodes, held))

    assert placed(actions) == {}
    state, reason = verdicts(actions)["j1"]
    assert state is JobState.PENDING and reason.startswith("capacity: ")


def test_a_higher_priority_job_is_placed_first_when_only_one_fits() -> None:
    jobs = [queued("low", gpus=8, submitted_s=0), queued("high", gpus=8, submitted_s=5, priority=3)]

    actions = decisions(live(jobs, [node("n1")]))

    assert list(placed(actions)) == ["high"]
    assert verdicts(actions)["low"][0] is JobState.PENDING


def test_only_the_requested_gpu_models_are_used_and_all_replicas_share_one() -> None:
    nodes = [node("n1", "A100", gpus=2), node("n2", "H100", gpus=2), node("n3", "H100", gpus=2)]

    actions = decisions(live([queued("j1", replicas=2, gpus=2, models=("A100", "H100"))], nodes))

    # A100 has room for one replica only, so the whole gang goes to H100.
    assert actions.binds[0].gpu_model == "H100"
    assert sorted(n for n, _ in placed(actions)["j1"]) == ["n2", "n3"]


def test_a_job_asking_for_a_model_the_fleet_lacks_waits() -> None:
    actions = decisions(live([queued("j1", models=("H100",))], [node("n1", "A100")]))

    assert verdicts(actions) == {
        "j1": (JobState.PENDING, "capacity: no node in the pool has an acceptable GPU flavor (H100)")
    }


def test_a_replica_larger_than_any_node_fails() -> None:
    actions = decisions(live([queued("j1", gpus=16)], [node("n1", gpus=8)]))

    state, reason = verdicts(actions)["j1"]
    assert state is JobState.FAILED and "no node of A100 can hold one replica" in reason


def test_bound_and_unhealthy_gpus_are_not_used() -> None:
    fleet = [node("n1", gpus=8, unhealthy=(6, 7))]
    held = [holding("other", "n1", (0, 1, 2, 3))]

    too_big = decisions(live([queued("j1", gpus=3)], fleet, held))
    fits = decisions(live([queued("j1", gpus=2)], fleet, held))

    assert placed(too_big) == {}
    assert placed(fits) == {"j1": [("n1", ("n1-g4", "n1-g5"))]}


def test_a_lost_node_takes_no_work_but_still_counts_in_the_fleets_shape() -> None:
    nodes = [node("n1", gpus=8, ready=False), node("n2", gpus=4)]

    actions = decisions(live([queued("small", gpus=4), queued("large", gpus=8, submitted_s=1)], nodes))

    assert placed(actions) == {"small": [("n2", tuple(f"n2-g{i}" for i in range(4)))]}
    # n1 may come back: the job that only it can hold waits instead of failing.
    assert verdicts(actions)["large"][0] is JobState.PENDING


def test_quota_limits_gpus_of_a_model_per_project_and_says_so() -> None:
    quotas = {"prj_x": ProjectQuota("ten_a", {"A100": 8})}
    held = [holding("running", "n1", tuple(range(6)), project="prj_x")]

    actions = decisions(live([queued("j1", gpus=4, project="prj_x")], [node("n1", gpus=16)], held, quotas))

    state, reason = verdicts(actions)["j1"]
    assert state is JobState.PENDING and reason.startswith("quota: ") and "prj_x" in reason


def test_quota_counts_what_this_cycle_already_placed() -> None:
    jobs = [queued("j1", gpus=4, project="prj_x"), queued("j2", gpus=4, project="prj_x", submitted_s=1)]

    actions = decisions(live(jobs, [node("n1")], quotas={"prj_x": ProjectQuota("ten_a", {"A100": 6})}))

    assert list(placed(actions)) == ["j1"]
    assert verdicts(actions)["j2"][1].startswith("quota: ")


def test_a_model_without_a_quota_row_is_unlimited_and_quota_is_per_model() -> None:
    nodes = [node("n1", "A100"), node("n2", "H100")]
    quotas = {"prj_x": ProjectQuota("ten_a", {"A100": 0})}

    actions = decisions(live([queued("j1", gpus=8, project="prj_x")], nodes, quotas=quotas))

    # A100 is closed to prj_x, H100 has no row: the job runs on H100.
    assert actions.binds[0].gpu_model == "H100"


def test_quota_of_one_project_does_not_limit_another() -> None:
    quotas = {"prj_x": ProjectQuota("ten_a", {"A100": 0})}

    actions = decisions(live([queued("j1", gpus=4, project="prj_y")], [node("n1")], quotas=quotas))

    assert list(placed(actions)) == ["j1"]


def test_an_unchanged_reason_is_not_written_again() -> None:
    first = decisions(live([queued("j1", models=("H100",))], [node("n1")]))
    [(_, reason)] = verdicts(first).values()

    again = decisions(live([queued("j1", models=("H100",), reason=reason, version=2)], [node("n1")]))

    assert again.verdicts == ()


def test_a_high_priority_job_preempts_a_running_low_one_past_its_minimum_runtime() -> None:
    policy = PoolPolicy(min_runtime_s=60, preemption_grace_s=12)
    held = [holding("low", "n1", tuple(range(8)), started_s=0)]

    actions = decisions(live([queued("high", gpus=8, priority=5)], [node("n1")], held), policy)

    [preempt] = actions.preemptions
    assert (preempt.job_id, preempt.grace_s, preempt.for_job_id) == ("low", 12, "high")
    assert verdicts(actions)["high"][0] is JobState.PENDING


def test_a_job_already_stopping_is_not_preempted_again() -> None:
    held = [holding("low", "n1", tuple(range(8)), stopping=True)]

    actions = decisions(live([queued("high", gpus=8, priority=5)], [node("n1")], held))

    assert actions.preemptions == ()
    assert placed(actions) == {}


def test_a_job_past_its_maximum_runtime_is_stopped_once() -> None:
    # Started at T0, an hour before NOW, with a 60 s limit.
    overdue = holding("bounded", "n1", (0,), max_runtime_s=60)

    actions = decisions(live(nodes=[node("n1")], held=[overdue]))
    stopping = decisions(
        live(nodes=[node("n1")], held=[holding("bounded", "n1", (0,), max_runtime_s=60, stopping=True)])
    )

    assert [(s.job_id, s.reason) for s in actions.stops] == [("bounded", "maximum runtime of 60 s exceeded")]
    assert stopping.stops == ()
