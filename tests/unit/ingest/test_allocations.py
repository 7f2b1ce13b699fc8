from datetime import datetime, timedelta

from services.ingest.domain.allocations import AllocationInterval, holder_at
from tests.unit.ingest.builders import T0


def interval(allocation_id: str, start_min: int, end_min: int | None) -> AllocationInterval:
    return AllocationInterval(
        gpu_uuid="GPU-1",
        allocation_id=allocation_id,
        tenant_id=f"tenant-{allocation_id}",
        project_id="p",
        job_id=f"job-{allocation_id}",
        gpu_model="H100",
        bound_at=T0 + timedelta(minutes=start_min),
        released_at=None if end_min is None else T0 + timedelta(minutes=end_min),
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
