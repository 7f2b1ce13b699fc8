from datetime import datetime, timedelta
from decimal import Decimal

from services.ingest.domain.allocations import AllocationInterval, holder_at, holders_at
from tests.unit.ingest.builders import T0


def interval(allocation_id: str, start_min: int, end_min: int | None, share: str = "1") -> AllocationInterval:
    return AllocationInterval(
        gpu_uuid="GPU-1",
        allocation_id=allocation_id,
        tenant_id=f"tenant-{allocation_id}",
        project_id="p",
        job_id=f"job-{allocation_id}",
        gpu_model="H100",
        bound_at=T0 + timedelta(minutes=start_min),
        released_at=None if end_min is None else T0 + timedelta(minutes=end_min),
        gpu_share=Decimal(share),
    )


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_the_interval_covering_the_time_holds_the_gpu() -> None:
    intervals = [interval("a", 0, 10), interval("b", 20, None)]
    assert holder_at(intervals, at(5)) == intervals[0]
    assert holder_at(intervals, at(25)) == intervals[1]


def test_no_covering_interval_means_idle() -> None:
    intervals = [interval("a", 0, 10), interval("b", 20, None)]
    assert holder_at(intervals, at(15)) is None
    assert holder_at(intervals, at(-1)) is None
    assert holder_at([], at(0)) is None


def test_both_ends_of_an_interval_are_inside_it() -> None:
    only = [interval("a", 0, 10)]
    assert holder_at(only, at(0)) == only[0]
    assert holder_at(only, at(10)) == only[0]
    assert holder_at(only, at(10.01)) is None


def test_at_a_hand_over_instant_the_allocation_that_ran_before_holds_the_window() -> None:
    before, after = interval("a", 0, 10), interval("b", 10, None)
    assert holder_at([after, before], at(10)) == before
    assert holder_at([after, before], at(10.5)) == after


def test_an_open_interval_whose_release_is_late_loses_to_the_newer_binding() -> None:
    stale, newer = interval("a", 0, None), interval("b", 10, None)
    assert holder_at([stale, newer], at(11)) == newer


def test_a_gpu_held_whole_or_idle_has_one_holder() -> None:
    whole = [interval("a", 0, None)]
    assert holders_at(whole, at(5)) == [(whole[0], Decimal(1))]
    assert holders_at([], at(5)) == [(None, Decimal(1))]


def test_a_shared_gpu_is_split_among_its_holders_and_the_rest_is_idle() -> None:
    halves = [interval("a", 0, None, "0.5"), interval("b", 1, None, "0.25")]
    assert holders_at(halves, at(5)) == [
        (halves[1], Decimal("0.25")),
        (halves[0], Decimal("0.5")),
        (None, Decimal("0.25")),
    ]


def test_shares_that_would_overfill_the_gpu_leave_out_the_older_holder() -> None:
    # b's release of the GPU has not reached ingest yet, c took its share: never more than one GPU.
    shares = [interval("b", 0, None, "0.5"), interval("a", 1, None, "0.5"), interval("c", 2, None, "0.5")]
    holders = holders_at(shares, at(5))
    assert holders == [(shares[2], Decimal("0.5")), (shares[1], Decimal("0.5"))]
    assert sum(share for _, share in holders) == 1


def test_a_share_bound_at_the_end_of_the_window_yields_to_those_that_ran_in_it() -> None:
    shares = [interval("a", 0, None, "0.75"), interval("b", 5, None, "0.5")]
    assert holders_at(shares, at(5)) == [(shares[0], Decimal("0.75")), (None, Decimal("0.25"))]


def test_a_gpu_half_held_by_one_allocation_is_half_idle() -> None:
    half = [interval("a", 0, None, "0.5")]
    assert holders_at(half, at(5)) == [(half[0], Decimal("0.5")), (None, Decimal("0.5"))]
