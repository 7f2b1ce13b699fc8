"""Reservation for the blocked head job, and backfill that cannot delay it."""

from services.scheduler.domain.engine.model import HoldKind, Place, Reserve
from tests.unit.scheduler.engine.builders import (
    NOW,
    hold_of,
    job,
    nodes,
    placed_ids,
    reserve_of,
    run_cycle,
    running,
    snapshot,
)


def busy_until(job_id: str, node_id: str, end: float, gpus: int = 8, first_gpu: int = 0):
    """A running job on `node_id` whose declared maximum runtime ends at `end`."""
    return running(
        job(job_id, gpus=gpus, max_runtime_s=end - (NOW - 100)),
        node_id,
        started_at=NOW - 100,
        first_gpu=first_gpu,
    )


def cycle(pending, run, node_count=2, **policy):
    policy.setdefault("preemption", False)
    return run_cycle(snapshot(nodes(node_count), pending, run), queueing="fifo", **policy)


def test_the_head_job_is_reserved_at_the_earliest_time_enough_gpus_free_up():
    run = [busy_until("early", "n0", NOW + 500), busy_until("late", "n1", NOW + 900)]
    one_node = cycle([job("head", gpus=8)], run)
    assert (reserve_of(one_node, "head").start_at, reserve_of(one_node, "head").node_ids) == (
        NOW + 500,
        ("n0",),
    )
    both_nodes = cycle([job("head", gpus=8, replicas=2)], run)
    assert reserve_of(both_nodes, "head").start_at == NOW + 900


def test_a_job_that_ends_before_the_reservation_backfills():
    run = [busy_until("r0", "n0", NOW + 500, gpus=4), busy_until("r1", "n1", NOW + 500)]
    pending = [
        job("head", gpus=8, replicas=2, submitted_at=1),
        job("short", gpus=4, submitted_at=2, max_runtime_s=400),
    ]
    decisions = cycle(pending, run)
    assert reserve_of(decisions, "head").start_at == NOW + 500
    assert placed_ids(decisions) == ["short"]


def test_a_job_that_would_delay_the_reservation_is_held():
    run = [busy_until("r0", "n0", NOW + 500, gpus=4), busy_until("r1", "n1", NOW + 500)]
    pending = [
        job("head", gpus=8, replicas=2, submitted_at=1),
        job("long", gpus=4, submitted_at=2, max_runtime_s=600),
    ]
    decisions = cycle(pending, run)
    hold = hold_of(decisions, "long")
    assert hold.kind is HoldKind.RESERVATION and "reserved for job head" in hold.reason


def test_a_job_without_maximum_runtime_never_counts_as_ending_before_the_reservation():
    run = [busy_until("r0", "n0", NOW + 500, gpus=4), busy_until("r1", "n1", NOW + 500)]
    pending = [job("head", gpus=8, replicas=2, submitted_at=1), job("open-ended", gpus=1, submitted_at=2)]
    assert hold_of(cycle(pending, run), "open-ended").kind is HoldKind.RESERVATION


def test_a_long_job_may_use_gpus_the_reservation_does_not_need():
    # The head needs one whole node: n0 frees first. n1 has 4 GPUs free that the head will not use.
    run = [busy_until("r0", "n0", NOW + 500), busy_until("r1", "n1", NOW + 900, gpus=4)]
    pending = [job("head", gpus=8, submitted_at=1), job("long", gpus=4, submitted_at=2, max_runtime_s=10_000)]
    decisions = cycle(pending, run)
    assert reserve_of(decisions, "head").node_ids == ("n0",)
    [place] = decisions.of_type(Place)
    assert (place.job_id, place.placements[0].node_id) == ("long", "n1")


def test_a_short_job_on_reserved_gpus_leaves_the_rest_blocked():
    # n0 half free, ending at +500: short fills 2 of the reserved GPUs, long may not take the other 2.
    run = [busy_until("r0", "n0", NOW + 500, gpus=4), busy_until("r1", "n1", NOW + 900)]
    pending = [
        job("head", gpus=8, submitted_at=1),
        job("short", gpus=2, submitted_at=2, max_runtime_s=100),
        job("long", gpus=2, submitted_at=3, max_runtime_s=10_000),
    ]
    decisions = cycle(pending, run)
    assert placed_ids(decisions) == ["short"]
    assert hold_of(decisions, "long").kind is HoldKind.RESERVATION


def test_a_second_reservation_is_planned_around_the_first():
    run = [busy_until("r0", "n0", NOW + 500), busy_until("r1", "n1", NOW + 900)]
    pending = [job("first", gpus=8, submitted_at=1), job("second", gpus=8, submitted_at=2)]
    decisions = cycle(pending, run, max_reservations=2)
    assert (reserve_of(decisions, "first").start_at, reserve_of(decisions, "first").node_ids) == (
        NOW + 500,
        ("n0",),
    )
    assert (reserve_of(decisions, "second").start_at, reserve_of(decisions, "second").node_ids) == (
        NOW + 900,
        ("n1",),
    )


def test_without_backfill_later_jobs_wait_behind_the_blocked_head():
    run = [busy_until("r0", "n0", NOW + 500, gpus=4), busy_until("r1", "n1", NOW + 500)]
    pending = [
        job("head", gpus=8, replicas=2, submitted_at=1),
        job("short", gpus=1, submitted_at=2, max_runtime_s=10),
    ]
    decisions = cycle(pending, run, backfill=False)
    hold = hold_of(decisions, "short")
    assert hold.kind is HoldKind.RESERVATION and "strict order" in hold.reason


def test_with_no_declared_runtimes_the_head_drains_the_least_busy_node():
    run = [
        running(job("busy", gpus=6), "n0", started_at=NOW - 100),
        running(job("light", gpus=2), "n1", started_at=NOW - 100),
    ]
    pending = [job("head", gpus=8, submitted_at=1), job("small", gpus=1, submitted_at=2)]
    decisions = cycle(pending, run)
    head = hold_of(decisions, "head")
    assert head.kind is HoldKind.CAPACITY and "n1" in head.reason and "no maximum runtime" in head.reason
    # small may not take n1's free GPUs (kept for head), but may use n0's.
    [place] = decisions.of_type(Place)
    assert (place.job_id, place.placements[0].node_id) == ("small", "n0")


def test_each_gpu_flavor_gets_its_own_reservation():
    from tests.unit.scheduler.engine.builders import node

    fleet = (node("a", 8, "A100"), node("h", 8, "H100"))
    run = [
        running(job("ra", gpus=4, max_runtime_s=600), "a", started_at=NOW - 100),
        running(job("rh", gpus=4, max_runtime_s=900), "h", started_at=NOW - 100, flavor="H100"),
    ]
    pending = [
        job("big-a", gpus=8, gpu_models=("A100",), submitted_at=1),
        job("big-h", gpus=8, gpu_models=("H100",), submitted_at=2),
    ]
    decisions = run_cycle(snapshot(fleet, pending, run), queueing="fifo", preemption=False)
    assert (reserve_of(decisions, "big-a").start_at, reserve_of(decisions, "big-h").start_at) == (
        NOW + 500,
        NOW + 800,
    )


def test_no_reservation_when_the_pool_disables_them():
    run = [busy_until("r0", "n0", NOW + 500, gpus=4), busy_until("r1", "n1", NOW + 500)]
    pending = [
        job("head", gpus=8, replicas=2, submitted_at=1),
        job("long", gpus=4, submitted_at=2, max_runtime_s=10_000),
    ]
    decisions = cycle(pending, run, max_reservations=0)
    assert decisions.of_type(Reserve) == [] and placed_ids(decisions) == ["long"]
