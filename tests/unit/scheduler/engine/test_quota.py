"""Quotas per queue and flavor: nominal, borrowing and lending within a cohort, reclaim, consistency
with placement."""

from services.scheduler.domain.engine.model import HoldKind, Place
from tests.unit.scheduler.engine.builders import (
    NOW,
    decision_for,
    hold_of,
    job,
    node,
    nodes,
    placed_ids,
    preempted_ids,
    queue,
    run_cycle,
    running,
    snapshot,
)


def four_jobs(project: str = "p1"):
    return [job(f"{project}-{i}", project=project, submitted_at=i) for i in range(4)]


def test_a_queue_without_cohort_stops_at_its_nominal_quota():
    decisions = run_cycle(snapshot(nodes(1), four_jobs(), queues=(queue("p1", nominal=2),)))
    assert placed_ids(decisions) == ["p1-0", "p1-1"]
    hold = hold_of(decisions, "p1-2")
    assert hold.kind is HoldKind.QUOTA
    assert "nominal quota of 2" in hold.reason


def test_a_queue_borrows_unused_nominal_of_its_cohort():
    queues = (queue("p1", cohort="c", nominal=2), queue("p2", cohort="c", nominal=2))
    decisions = run_cycle(snapshot(nodes(1), four_jobs(), queues=queues))
    assert placed_ids(decisions) == ["p1-0", "p1-1", "p1-2", "p1-3"]
    borrowing = {d.job_id: d.borrowing for d in decisions.of_type(Place)}
    assert borrowing == {"p1-0": False, "p1-1": False, "p1-2": True, "p1-3": True}


def test_borrowing_stops_at_the_borrowing_limit():
    queues = (queue("p1", cohort="c", nominal=2, borrowing_limit=1), queue("p2", cohort="c", nominal=2))
    decisions = run_cycle(snapshot(nodes(1), four_jobs(), queues=queues))
    assert placed_ids(decisions) == ["p1-0", "p1-1", "p1-2"]
    assert "borrowing limit 1" in hold_of(decisions, "p1-3").reason


def test_a_lender_keeps_what_its_lending_limit_does_not_lend():
    queues = (queue("p1", cohort="c", nominal=1), queue("p2", cohort="c", nominal=3, lending_limit=1))
    decisions = run_cycle(snapshot(nodes(1), four_jobs(), queues=queues))
    assert placed_ids(decisions) == ["p1-0", "p1-1"]
    assert "cohort c" in hold_of(decisions, "p1-2").reason


def test_borrowing_cannot_take_what_the_lender_uses():
    queues = (queue("p1", cohort="c", nominal=2), queue("p2", cohort="c", nominal=2))
    lender_busy = [running(job(f"p2-run{i}", project="p2"), "n0", first_gpu=i) for i in range(2)]
    decisions = run_cycle(snapshot(nodes(1), four_jobs(), lender_busy, queues=queues))
    assert placed_ids(decisions) == ["p1-0", "p1-1"]
    assert hold_of(decisions, "p1-2").kind is HoldKind.QUOTA


def test_a_flavor_without_quota_is_unlimited():
    queues = (queue("p1", nominal=1, flavor="H100"),)
    assert len(placed_ids(run_cycle(snapshot(nodes(1), four_jobs(), queues=queues)))) == 4


def test_quota_is_committed_only_when_the_whole_gang_is_placed():
    # 2 free GPUs on each node: the 4-GPU job cannot be placed, so it must not use p1's quota of 4,
    # and the 2-GPU job behind it still fits within quota.
    fleet = nodes(2, gpus=4)
    others = [running(job(f"other{i}", gpus=2, project="p9"), f"n{i}") for i in range(2)]
    pending = [job("wide", gpus=4, submitted_at=1), job("narrow", gpus=2, submitted_at=2)]
    decisions = run_cycle(
        snapshot(fleet, pending, others, queues=(queue("p1", nominal=4),)), preemption=False
    )
    assert placed_ids(decisions) == ["narrow"]


def test_a_lender_reclaims_its_nominal_by_preempting_borrowed_work():
    queues = (queue("p1", cohort="c", nominal=2), queue("p2", cohort="c", nominal=2))
    # p1 borrowed p2's two GPUs long ago; the node (4 GPUs) is full.
    borrowed = [
        running(job(f"p1-run{i}", project="p1"), "n0", first_gpu=i, started_at=NOW - 3600) for i in range(4)
    ]
    pending = [job("p2-back", gpus=2, project="p2", submitted_at=1)]
    decisions = run_cycle(snapshot((node("n0", 4),), pending, borrowed, queues=queues))
    assert len(preempted_ids(decisions)) == 2
    preempt = decision_for(decisions, preempted_ids(decisions)[0])
    assert "reclaims its nominal" in preempt.reason  # type: ignore[attr-defined]
    assert hold_of(decisions, "p2-back").kind is HoldKind.CAPACITY


def test_work_within_its_own_nominal_is_never_preempted_by_another_queue():
    queues = (queue("p1", cohort="c", nominal=2), queue("p2", cohort="c", nominal=2))
    own = [
        running(job(f"p1-run{i}", project="p1"), "n0", first_gpu=i, started_at=NOW - 3600) for i in range(2)
    ]
    # p2 already uses its nominal (at its own priority) and would borrow: even at a higher priority
    # than p1's jobs it may not take p1's GPUs.
    p2_own = [
        running(job(f"p2-run{i}", project="p2", priority=5), "n0", first_gpu=2 + i, started_at=NOW - 3600)
        for i in range(2)
    ]
    pending = [job("p2-more", project="p2", priority=5, submitted_at=1)]
    decisions = run_cycle(snapshot((node("n0", 4),), pending, own + p2_own, queues=queues))
    assert preempted_ids(decisions) == []


def test_cpu_quota_is_enforced():
    spec = queue("p1")
    spec = type(spec)(spec.queue_id, spec.tenant_id, cpu_milli_quota=3000)
    pending = [job(f"j{i}", cpu_milli_per_replica=2000, submitted_at=i) for i in range(2)]
    decisions = run_cycle(snapshot(nodes(1), pending, queues=(spec,)))
    assert placed_ids(decisions) == ["j0"]
    assert "CPU quota" in hold_of(decisions, "j1").reason
