"""Dependencies, budgets, maximum runtime, node and GPU health, invalid requests, gangs, cycle limit."""

from services.scheduler.domain.engine.model import (
    Dependency,
    DependencyCondition,
    Fail,
    HoldKind,
    JobOutcome,
    Place,
    Preempt,
    Stop,
)
from tests.unit.scheduler.engine.builders import (
    NOW,
    after_success,
    decision_for,
    hold_of,
    job,
    node,
    nodes,
    placed_ids,
    queue,
    run_cycle,
    running,
    snapshot,
)


def test_a_job_waits_until_its_dependency_succeeds():
    decisions = run_cycle(snapshot(nodes(1), [job("next", depends_on=(after_success("prep"),))]))
    hold = hold_of(decisions, "next")
    assert (hold.kind, hold.reason) == (HoldKind.DEPENDENCY, "waiting for job prep to succeed")


def test_a_job_starts_once_its_dependency_succeeded():
    snap = snapshot(
        nodes(1), [job("next", depends_on=(after_success("prep"),))], outcomes={"prep": JobOutcome.SUCCEEDED}
    )
    assert placed_ids(run_cycle(snap)) == ["next"]


def test_after_success_fails_when_the_dependency_failed():
    snap = snapshot(
        nodes(1), [job("next", depends_on=(after_success("prep"),))], outcomes={"prep": JobOutcome.CANCELLED}
    )
    fail = decision_for(run_cycle(snap), "next")
    assert isinstance(fail, Fail) and "prep cancelled" in fail.reason


def test_after_any_starts_whatever_the_outcome():
    dep = Dependency("prep", DependencyCondition.AFTER_ANY)
    waiting = run_cycle(snapshot(nodes(1), [job("next", depends_on=(dep,))]))
    assert hold_of(waiting, "next").reason == "waiting for job prep to end"
    ended = run_cycle(
        snapshot(nodes(1), [job("next", depends_on=(dep,))], outcomes={"prep": JobOutcome.FAILED})
    )
    assert placed_ids(ended) == ["next"]


def test_an_exhausted_project_budget_admits_no_new_work():
    decisions = run_cycle(snapshot(nodes(1), [job("spend", project="broke")], budget_exhausted={"broke"}))
    hold = hold_of(decisions, "spend")
    assert (hold.kind, hold.reason) == (HoldKind.BUDGET, "budget exhausted for project broke")


def test_an_exhausted_tenant_budget_admits_no_new_work():
    decisions = run_cycle(
        snapshot(nodes(1), [job("spend", tenant="broke-tenant")], budget_exhausted={"broke-tenant"})
    )
    assert hold_of(decisions, "spend").reason == "budget exhausted for tenant broke-tenant"


def test_running_work_of_an_exhausted_budget_continues_unless_the_pool_stops_it():
    run = [running(job("spending", project="broke"), "n0", started_at=NOW - 10)]
    snap = snapshot(nodes(1), [], run, budget_exhausted={"broke"})
    assert run_cycle(snap).of_type(Stop) == []
    [stop] = run_cycle(snap, stop_on_budget_exhausted=True).of_type(Stop)
    assert (stop.job_id, stop.reason) == ("spending", "budget exhausted for project broke")


def test_a_job_past_its_maximum_runtime_is_stopped():
    run = [running(job("overdue", max_runtime_s=600), "n0", started_at=NOW - 601)]
    [stop] = run_cycle(snapshot(nodes(1), [], run)).of_type(Stop)
    assert stop.job_id == "overdue" and "maximum runtime of 600 s" in stop.reason


def test_a_drained_node_takes_no_new_work():
    fleet = (node("drained", schedulable=False), node("ok", gpus=1))
    decisions = run_cycle(snapshot(fleet, [job("a", submitted_at=1), job("b", submitted_at=2)]))
    [place] = decisions.of_type(Place)
    assert place.placements[0].node_id == "ok"
    assert hold_of(decisions, "b").kind is HoldKind.CAPACITY


def test_unhealthy_gpus_take_no_new_work():
    fleet = (node("n0", gpus=4, unhealthy_gpus=frozenset({0, 1})),)
    decisions = run_cycle(
        snapshot(fleet, [job("a", gpus=2, submitted_at=1), job("b", gpus=1, submitted_at=2)])
    )
    assert decisions.of_type(Place)[0].placements[0].gpu_indices == (2, 3)
    assert hold_of(decisions, "b").kind is HoldKind.CAPACITY


def test_a_job_on_a_lost_node_is_requeued():
    run = [running(job("stranded"), "gone", started_at=NOW - 10)]
    [preempt] = run_cycle(snapshot(nodes(1), [], run)).of_type(Preempt)
    assert (preempt.job_id, preempt.grace_s) == ("stranded", 0.0) and "gone" in preempt.reason


def test_a_replica_bigger_than_any_node_fails():
    fail = decision_for(run_cycle(snapshot(nodes(2), [job("huge", gpus=16)])), "huge")
    assert isinstance(fail, Fail) and "16 GPU(s)" in fail.reason


def test_a_gang_bigger_than_the_pool_waits_for_nodes():
    assert (
        hold_of(run_cycle(snapshot(nodes(2), [job("wide", gpus=8, replicas=3)])), "wide").kind
        is HoldKind.CAPACITY
    )


def test_an_unknown_gpu_model_waits_for_such_nodes():
    decisions = run_cycle(snapshot(nodes(1), [job("h", gpu_models=("H100",))]))
    assert "H100" in hold_of(decisions, "h").reason


def test_an_invalid_request_fails_naming_the_problem():
    fail = decision_for(run_cycle(snapshot(nodes(1), [job("bad", gpus=2, gpu_milli=500)])), "bad")
    assert isinstance(fail, Fail) and "fractional GPU" in fail.reason


def test_a_job_filed_under_another_tenants_queue_fails():
    snap = snapshot(
        nodes(1), [job("sneaky", project="p1", tenant="intruder")], queues=(queue("p1", tenant="owner"),)
    )
    fail = decision_for(run_cycle(snap), "sneaky")
    assert isinstance(fail, Fail) and "does not belong to tenant intruder" in fail.reason


def test_a_gang_is_placed_whole_across_nodes():
    [place] = run_cycle(snapshot(nodes(3), [job("gang", gpus=8, replicas=3)])).of_type(Place)
    assert sorted(p.node_id for p in place.placements) == ["n0", "n1", "n2"]


def test_a_gang_that_does_not_fit_whole_takes_nothing():
    run = [running(job("resident", gpus=4), "n1")]
    decisions = run_cycle(snapshot(nodes(2), [job("gang", gpus=8, replicas=2)], run), preemption=False)
    assert decisions.of_type(Place) == []
    assert hold_of(decisions, "gang").kind is HoldKind.CAPACITY


def test_a_fractional_job_shares_a_gpu():
    pending = [job("a", gpu_milli=500, submitted_at=1), job("b", gpu_milli=500, submitted_at=2)]
    places = run_cycle(snapshot((node("n0", gpus=1),), pending)).of_type(Place)
    assert [p.placements[0].gpu_milli for p in places] == [500, 500]


def test_the_cycle_limit_defers_the_rest():
    decisions = run_cycle(
        snapshot(nodes(1), [job(f"j{i}", submitted_at=i) for i in range(4)]), max_placements_per_cycle=2
    )
    assert placed_ids(decisions) == ["j0", "j1"]
    assert "limit of 2 placements" in hold_of(decisions, "j2").reason


def test_a_pending_entry_of_a_running_job_gets_no_decision():
    request = job("both")
    decisions = run_cycle(snapshot(nodes(1), [request], [running(request, "n0", started_at=NOW - 10)]))
    assert [d for d in decisions.items if d.job_id == "both"] == []
