"""Priority preemption: grace period, minimum runtime, victims that lose the least work, and only
when the victims free enough."""

from services.scheduler.domain.engine.model import HoldKind, Preempt
from tests.unit.scheduler.engine.builders import (
    NOW,
    hold_of,
    job,
    node,
    placed_ids,
    preempted_ids,
    run_cycle,
    running,
    snapshot,
)

LONG_AGO = NOW - 3600


def test_a_higher_priority_job_preempts_a_lower_one_with_grace():
    low = running(job("low", gpus=8), "n0", started_at=LONG_AGO)
    decisions = run_cycle(
        snapshot((node("n0"),), [job("high", gpus=8, priority=10)], [low]), preemption_grace_s=45
    )
    [preempt] = decisions.of_type(Preempt)
    assert (preempt.job_id, preempt.for_job_id, preempt.grace_s) == ("low", "high", 45)
    hold = hold_of(decisions, "high")
    assert hold.kind is HoldKind.CAPACITY and "preempted" in hold.reason


def test_equal_priority_never_preempts():
    same = running(job("same", gpus=8), "n0", started_at=LONG_AGO)
    assert preempted_ids(run_cycle(snapshot((node("n0"),), [job("peer", gpus=8)], [same]))) == []


def test_no_preemption_when_the_victims_cannot_free_enough():
    low = running(job("low", gpus=4), "n0", started_at=LONG_AGO)
    high = running(job("high-run", gpus=4, priority=10), "n0", first_gpu=4, started_at=LONG_AGO)
    decisions = run_cycle(snapshot((node("n0"),), [job("high", gpus=8, priority=10)], [low, high]))
    assert preempted_ids(decisions) == []


def test_a_job_younger_than_the_minimum_runtime_is_not_preempted():
    young = running(job("young", gpus=8), "n0", started_at=NOW - 299)
    decisions = run_cycle(
        snapshot((node("n0"),), [job("high", gpus=8, priority=10)], [young]), min_runtime_s=300
    )
    assert preempted_ids(decisions) == []


def test_a_non_preemptible_job_is_not_preempted():
    pinned = running(job("pinned", gpus=8, preemptible=False), "n0", started_at=LONG_AGO)
    assert (
        preempted_ids(run_cycle(snapshot((node("n0"),), [job("high", gpus=8, priority=10)], [pinned]))) == []
    )


def test_victims_lose_the_least_work_since_their_last_checkpoint():
    # Three 2-GPU jobs started together; the high job needs 4 GPUs of the 6 in use (2 are free).
    fresh_checkpoint = running(job("fresh", gpus=2), "n0", started_at=LONG_AGO, last_checkpoint_at=NOW - 60)
    old_checkpoint = running(
        job("old", gpus=2), "n0", first_gpu=2, started_at=LONG_AGO, last_checkpoint_at=NOW - 1800
    )
    never = running(job("never", gpus=2), "n0", first_gpu=4, started_at=LONG_AGO)
    decisions = run_cycle(
        snapshot((node("n0"),), [job("high", gpus=4, priority=10)], [fresh_checkpoint, old_checkpoint, never])
    )
    assert preempted_ids(decisions) == ["fresh"]


def test_a_job_that_cannot_checkpoint_loses_everything_since_its_start():
    no_ckpt = running(
        job("no-ckpt", gpus=4, checkpointable=False), "n0", started_at=NOW - 900, last_checkpoint_at=NOW - 10
    )
    ckpt = running(
        job("ckpt", gpus=4), "n0", first_gpu=4, started_at=NOW - 3600, last_checkpoint_at=NOW - 600
    )
    decisions = run_cycle(snapshot((node("n0"),), [job("high", gpus=4, priority=10)], [no_ckpt, ckpt]))
    assert preempted_ids(decisions) == ["ckpt"]


def test_among_equal_losses_the_newest_job_is_preempted():
    older = running(job("older", gpus=4), "n0", started_at=NOW - 3600, last_checkpoint_at=NOW - 100)
    newer = running(
        job("newer", gpus=4), "n0", first_gpu=4, started_at=NOW - 1800, last_checkpoint_at=NOW - 100
    )
    decisions = run_cycle(snapshot((node("n0"),), [job("high", gpus=4, priority=10)], [older, newer]))
    assert preempted_ids(decisions) == ["newer"]


def test_only_the_victims_needed_are_preempted():
    small = [running(job(f"small{i}"), "n0", first_gpu=i, started_at=NOW - 1000 - i) for i in range(8)]
    decisions = run_cycle(snapshot((node("n0"),), [job("high", gpus=3, priority=10)], small))
    assert len(preempted_ids(decisions)) == 3


def test_a_job_waits_for_terminating_victims_instead_of_picking_more():
    going = running(job("going", gpus=8), "n0", started_at=LONG_AGO)
    other = running(job("other", gpus=8), "n1", started_at=LONG_AGO)
    snap = snapshot(
        (node("n0"), node("n1")), [job("high", gpus=8, priority=10)], [going, other], terminating={"going"}
    )
    decisions = run_cycle(snap)
    assert preempted_ids(decisions) == []
    assert "release their GPUs" in hold_of(decisions, "high").reason


def test_two_preemptors_in_one_cycle_pick_different_victims():
    victims = [running(job(f"low{i}", gpus=8), f"n{i}", started_at=LONG_AGO) for i in range(2)]
    pending = [
        job("high-a", gpus=8, priority=10, submitted_at=1),
        job("high-b", gpus=8, priority=10, submitted_at=2),
    ]
    decisions = run_cycle(snapshot((node("n0"), node("n1")), pending, victims))
    assert sorted(preempted_ids(decisions)) == ["low0", "low1"]
    assert {d.for_job_id for d in decisions.of_type(Preempt)} == {"high-a", "high-b"}


def test_preemption_off_leaves_running_jobs_alone():
    low = running(job("low", gpus=8), "n0", started_at=LONG_AGO)
    decisions = run_cycle(
        snapshot((node("n0"),), [job("high", gpus=8, priority=10)], [low]), preemption=False
    )
    assert preempted_ids(decisions) == [] and placed_ids(decisions) == []


def test_las_preempts_a_job_that_received_much_more_service():
    veteran = running(job("veteran", gpus=8), "n0", started_at=LONG_AGO)
    snap = snapshot((node("n0"),), [job("newcomer", gpus=8)], [veteran], attained={"veteran": 50_000.0})
    decisions = run_cycle(snap, queueing="las")
    assert preempted_ids(decisions) == ["veteran"]
    assert "las policy" in decisions.of_type(Preempt)[0].reason


def test_a_gang_empties_the_node_where_the_least_work_is_lost():
    # n0: eight 1-GPU jobs that checkpointed a minute ago; n1: one 8-GPU job that never did.
    cheap = [
        running(job(f"cheap{i}"), "n0", first_gpu=i, started_at=LONG_AGO, last_checkpoint_at=NOW - 60)
        for i in range(8)
    ]
    costly = running(job("costly", gpus=8), "n1", started_at=LONG_AGO)
    decisions = run_cycle(
        snapshot((node("n0"), node("n1")), [job("high", gpus=8, priority=10)], [*cheap, costly])
    )
    assert sorted(preempted_ids(decisions)) == [f"cheap{i}" for i in range(8)]


def test_a_higher_priority_job_at_its_queue_quota_preempts_its_own_queue():
    from tests.unit.scheduler.engine.builders import queue

    own = running(job("own-low", gpus=2), "n0", started_at=LONG_AGO)
    decisions = run_cycle(
        snapshot(
            (node("n0"),), [job("own-high", gpus=2, priority=5)], [own], queues=(queue("p1", nominal=2),)
        )
    )
    assert preempted_ids(decisions) == ["own-low"]
    assert hold_of(decisions, "own-high").kind is HoldKind.QUOTA
