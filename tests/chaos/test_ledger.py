"""The chaos run's checks catch what they are there to catch (fed hand-made events and records)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from shared.events.scheduler import AllocationBound, AllocationReleased
from tests.chaos import ledger
from tests.support.workload_records import Run

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def bound(allocation: str, gpus: list[str], at_s: float, job: str = "j") -> AllocationBound:
    return AllocationBound(
        occurred_at=T0, tenant_id="t", project_id="p", job_id=job, allocation_id=allocation, replica=0,
        node_id="n1", gpu_model="A100", gpu_uuids=gpus, bound_at=T0 + timedelta(seconds=at_s), epoch=1,
    )  # fmt: skip


def released(b: AllocationBound, after_s: float, tenant: str = "t") -> AllocationReleased:
    return AllocationReleased(
        occurred_at=T0, tenant_id=tenant, project_id=b.project_id, job_id=b.job_id,
        allocation_id=b.allocation_id, node_id=b.node_id, gpu_model="A100", gpu_count=len(b.gpu_uuids),
        bound_at=b.bound_at, released_at=b.bound_at + timedelta(seconds=after_s), reason="done", epoch=1,
    )  # fmt: skip


def test_a_gpu_bound_again_before_its_release_is_a_double_booking() -> None:
    first, second = bound("a1", ["g1", "g2"], 0), bound("a2", ["g2"], 5)
    assert ledger.gpu_double_bookings([first, second], [released(first, 10), released(second, 1)])
    assert ledger.gpu_double_bookings([first, second], [released(first, 5), released(second, 1)]) == []
    # Never released: held for ever.
    assert ledger.gpu_double_bookings([first, bound("a3", ["g1"], 100)], [])


def test_an_allocation_released_never_or_twice_is_reported() -> None:
    first, second = bound("a1", ["g1"], 0), bound("a2", ["g2"], 0)
    assert ledger.unreleased([first, second], [released(first, 1), released(second, 1)]) == []
    assert ledger.unreleased([first, second], [released(first, 1)]) == ["a2 (j) never released"]
    assert ledger.unreleased([first], [released(first, 1), released(first, 1)]) == ["a1 released 2 times"]


def test_a_job_run_twice_or_on_a_busy_gpu_or_never_is_reported() -> None:
    once = Run("j1", "a1", frozenset({"g1"}), 0.0, 1.0)
    assert ledger.workload_problems([once], {"j1"}) == []
    assert ledger.workload_problems([once, Run("j1", "a2", frozenset({"g2"}), 2.0, 3.0)], {"j1"}) == [
        "j1 ran 2 times"
    ]
    overlap = ledger.workload_problems([once, Run("j2", "a2", frozenset({"g1"}), 0.5, 2.0)], {"j1", "j2"})
    assert overlap == ["j1 and j2 both ran on ['g1']"]
    assert ledger.workload_problems([once], {"j1", "j2"}) == ["j2 ran 0 times"]


def test_states_missing_wrong_or_unexpected_are_reported() -> None:
    expected = {"j1": "succeeded", "j2": "failed"}
    assert ledger.state_problems({"j1": "succeeded", "j2": "failed"}, expected) == []
    assert ledger.state_problems({"j1": "running", "j3": "failed"}, expected) == [
        "j1: running (expected succeeded)",
        "j2: missing (expected failed)",
        "j3: a job this run did not submit",
    ]


def test_the_bill_is_started_seconds_times_gpus_rounded_once_per_line() -> None:
    a, b = bound("a1", ["g1", "g2"], 0), bound("a2", ["g3"], 0)
    # 1.2 s -> 2 started seconds x 2 GPUs; 0.4 s -> 1 x 1: 5 GPU-seconds. 5 x 3.60 / 3600 = 0.005 -> 0.01.
    allocations = [released(a, 1.2), released(b, 0.4), released(b, 9, tenant="other")]
    assert ledger.expected_gpu_lines(allocations, "t", Decimal("3.60"), "USD") == {"p": Decimal("0.01")}
    assert ledger.expected_gpu_lines(allocations, "t", Decimal("540"), "JPY") == {"p": Decimal("1")}
    invoices = [{"lines": [{"meter": "gpu_hours", "project_id": "p", "amount": "0.01"},
                           {"meter": "energy_kwh", "project_id": "p", "amount": "9"}]}]  # fmt: skip
    assert ledger.invoiced_gpu_lines(invoices) == {"p": Decimal("0.01")}
